variable "name_prefix" {
  description = "Prefix of the cluster, service, log group and repository names."
  type        = string
}

variable "vpc_id" {
  description = "VPC the load balancer and the tasks run in."
  type        = string
}

variable "private_subnet_ids" {
  description = "Subnets of the tasks (no public IPs; they reach AWS and the providers through NAT or endpoints)."
  type        = list(string)
}

variable "public_subnet_ids" {
  description = "Subnets of the ingest load balancer."
  type        = list(string)
}

variable "alb_internal" {
  description = "Make the ingest load balancer internal instead of internet-facing."
  type        = bool
  default     = false
}

variable "alb_ingress_cidrs" {
  description = "Client networks allowed to reach the ingest load balancer on 443."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate of the ingest load balancer's HTTPS listener."
  type        = string
}

variable "alb_access_logs_bucket" {
  description = "Bucket receiving the load balancer's access logs under alb/."
  type        = string
}

variable "deletion_protection" {
  description = "Protect the load balancer from deletion."
  type        = bool
  default     = true
}

variable "services" {
  description = "Size and scaling bounds of each service (cpu units, memory MiB)."
  type = map(object({
    cpu                   = number
    memory                = number
    desired_count         = number
    min_count             = number
    max_count             = number
    ephemeral_storage_gib = optional(number, 21)
  }))

  validation {
    condition     = toset(keys(var.services)) == toset(["ingest", "scripter", "renderer", "webhooks", "clips"])
    error_message = "services must size exactly ingest, scripter, renderer, webhooks and clips."
  }

  validation {
    # Backlog per task divides by running tasks; at zero tasks the metric has no value.
    condition     = alltrue([for size in values(var.services) : size.min_count >= 1])
    error_message = "min_count must be at least 1 for every service."
  }
}

variable "runs_as" {
  description = "Services that run another service's image, repository, role and log group (clips = renderer: the renderer distribution in its clip-only role)."
  type        = map(string)
  default     = {}
}

variable "image_tags" {
  description = "Tag of each service's image in its ECR repository (tags are immutable)."
  type        = map(string)
}

variable "image_overrides" {
  description = "Full image references by service, replacing the ECR repository:tag (e.g. @digest)."
  type        = map(string)
  default     = {}
}

variable "entrypoints" {
  description = "The console script each service's package installs, run as the container command."
  type        = map(string)
}

variable "environment" {
  description = "Plain environment variables by service."
  type        = map(map(string))
}

variable "secrets" {
  description = "Environment variables filled from Secrets Manager by service: name => secret ARN."
  type        = map(map(string))
}

variable "task_role_arns" {
  description = "Task role by service."
  type        = map(string)
}

variable "execution_role_arns" {
  description = "Execution role by service."
  type        = map(string)
}

variable "worker_queues" {
  description = "Queue whose backlog drives each worker's scaling, by service (scripter, renderer, webhooks)."
  type        = map(string)
}

variable "backlog_per_task" {
  description = "Target visible messages per running task, by worker service."
  type        = map(number)
}

variable "ingest_cpu_target" {
  description = "Target average CPU (%) of the ingest service."
  type        = number
  default     = 60
}

variable "container_port" {
  description = "Port the ingest HTTP server listens on."
  type        = number
  default     = 8000
}

variable "stop_timeout_seconds" {
  description = "Seconds between SIGTERM and SIGKILL: the consumer drain deadline must fit in it."
  type        = number
  default     = 120

  validation {
    condition     = var.stop_timeout_seconds >= 30 && var.stop_timeout_seconds <= 120
    error_message = "stop_timeout_seconds must be 30..120 (120 is the Fargate maximum)."
  }
}

variable "log_retention_days" {
  description = "Days the services' logs are kept."
  type        = number
  default     = 365
}
