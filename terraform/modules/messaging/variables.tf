variable "bucket_arn" {
  description = "The assets bucket, the only sender to the uploads queue (S3 event notifications)."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every topic and queue name (see resources.py)."
  type        = string
}

variable "job_request_publisher_arns" {
  description = "IAM principals (e.g. upstream accounts or roles) allowed to publish to the shared job-requests topic."
  type        = list(string)
  default     = []
}

variable "upstream_publishers" {
  description = "Per upstream publisher: the IAM principals (account root or role ARNs) that alone may publish to its own topic <name_prefix>-job-requests-<name>."
  type        = map(list(string))
  default     = {}
}
