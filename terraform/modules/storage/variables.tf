variable "name_prefix" {
  description = "Prefix of every resource name; the table is <name_prefix>-jobs (see resources.py)."
  type        = string
}

variable "bucket_name" {
  description = "Name of the assets bucket (<name_prefix>-assets plus an environment/account suffix)."
  type        = string
}

variable "uploads_queue_arn" {
  description = "The queue told of every object created under uploads/ (a user's upload, to check)."
  type        = string
}

variable "web_origins" {
  description = "Origins of the web page (https://HOST) allowed to POST uploads to the bucket (CORS); none: no rule."
  type        = list(string)
  default     = []
}

variable "deletion_protection" {
  description = "Protect the jobs table from deletion (turn off only to tear a test stack down)."
  type        = bool
  default     = true
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted asset version is kept before it expires."
  type        = number
  default     = 7
}

variable "asset_expiration_days" {
  description = "Days after which job assets expire; jobs themselves expire after 7 days (TTL)."
  type        = number
  default     = 30
}

variable "access_log_retention_days" {
  description = "Days the assets bucket's and the load balancer's access logs are kept."
  type        = number
  default     = 365
}
