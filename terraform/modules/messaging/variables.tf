variable "name_prefix" {
  description = "Prefix of every topic and queue name (see resources.py)."
  type        = string
}

variable "job_request_publisher_arns" {
  description = "IAM principals (e.g. upstream accounts or roles) allowed to publish job requests."
  type        = list(string)
  default     = []
}
