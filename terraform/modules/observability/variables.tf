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

variable "alarm_topic_enabled" {
  description = "Create the alarm topic and notify it (false: alarms only change state, e.g. for a dashboard or another integration)."
  type        = bool
  default     = true
}

variable "region" {
  description = "Region of the metrics the dashboard shows."
  type        = string
}

variable "job_failure_rate_percent" {
  description = "Alarm when more than this share of the jobs that ended failed, over 3 periods of 5 min."
  type        = number
  default     = 10
}

variable "stage_latency_p95_seconds" {
  description = "Alarm when a stage's p95 duration exceeds this many seconds, per stage (keys: the catalog's stages)."
  type        = map(number)
  default = {
    script         = 120
    "render.scene" = 900
  }
}
