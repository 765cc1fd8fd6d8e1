variable "name_prefix" {
  description = "Prefix of the role names."
  type        = string
}

variable "table_arn" {
  description = "The jobs table."
  type        = string
}

variable "bucket_arn" {
  description = "The assets bucket."
  type        = string
}

variable "storage_kms_key_arn" {
  description = "Key encrypting the table and the bucket."
  type        = string
}

variable "messaging_kms_key_arn" {
  description = "Key encrypting the topics and queues."
  type        = string
}

variable "secrets_kms_key_arn" {
  description = "Key encrypting the provider secrets."
  type        = string
}

variable "queue_arns" {
  description = "Source queue ARNs by key (ingest_requests, scripter, renderer, job_outcomes, webhooks)."
  type        = map(string)
}

variable "dlq_arns" {
  description = "Dead-letter queue ARNs by the key of their source queue."
  type        = map(string)
}

variable "topic_arns" {
  description = "Topic ARNs by key (job_requests, job_events)."
  type        = map(string)
}

variable "secret_arns" {
  description = "Provider secret ARNs by key (openai, replicate)."
  type        = map(string)
}

variable "log_group_arns" {
  description = "CloudWatch log group ARNs by service."
  type        = map(string)
}

variable "ecr_repository_arns" {
  description = "ECR repository ARNs by service."
  type        = map(string)
}
