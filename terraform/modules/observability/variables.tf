variable "name_prefix" {
  description = "Prefix of the alarm and topic names."
  type        = string
}

variable "queues" {
  description = "Watched queues by key: source queue name and its DLQ name."
  type = map(object({
    name     = string
    dlq_name = string
  }))
}

variable "max_message_age_seconds" {
  description = "Alarm when a queue's oldest message is older than this, by queue key (default 900)."
  type        = map(number)
  default     = {}
}

variable "alarm_kms_key_arn" {
  description = "Key encrypting the alarm topic (CloudWatch must be allowed to use it)."
  type        = string
}

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic (each confirms by mail)."
  type        = list(string)
  default     = []
}
