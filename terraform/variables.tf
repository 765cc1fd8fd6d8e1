variable "region" {
  description = "AWS region of the stack."
  type        = string
  default     = "us-east-1"
}

variable "environment" {
  description = "Environment name (staging, production, ...): tags and the bucket name's suffix."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,15}$", var.environment))
    error_message = "environment: lowercase letters, digits and '-', at most 16 characters."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name; the services read it as OMNIGEN_RESOURCE_PREFIX."
  type        = string
  default     = "omnigen"

  validation {
    # The same pattern as AwsSettings.resource_prefix in omnigen.shared.settings.
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}$", var.name_prefix))
    error_message = "name_prefix must match ^[a-z][a-z0-9-]{1,40}$."
  }
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

# --- network -------------------------------------------------------------------------------

variable "vpc_id" {
  description = "VPC of the load balancer and the tasks."
  type        = string
}

variable "private_subnet_ids" {
  description = "Subnets of the tasks; they need a route to AWS APIs and the providers (NAT or endpoints)."
  type        = list(string)
}

variable "public_subnet_ids" {
  description = "Subnets of the ingest load balancer (private ones if alb_internal)."
  type        = list(string)
}

variable "alb_internal" {
  description = "Make the ingest load balancer internal."
  type        = bool
  default     = false
}

variable "alb_ingress_cidrs" {
  description = "Client networks allowed to reach the ingest API on 443."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate for the ingest API's HTTPS listener."
  type        = string
}

variable "web_origins" {
  description = "Origins the web page is served from (https://HOST): the bucket lets them POST users' uploads (CORS)."
  type        = list(string)
  default     = []
}

variable "deletion_protection" {
  description = "Protect the jobs table and the load balancer from deletion."
  type        = bool
  default     = true
}

# --- services ------------------------------------------------------------------------------

variable "services" {
  description = "Fargate size and scaling bounds per service (cpu units, memory MiB)."
  type = map(object({
    cpu                   = number
    memory                = number
    desired_count         = number
    min_count             = number
    max_count             = number
    ephemeral_storage_gib = optional(number, 21)
  }))
  default = {
    ingest   = { cpu = 512, memory = 1024, desired_count = 2, min_count = 2, max_count = 6 }
    scripter = { cpu = 256, memory = 512, desired_count = 1, min_count = 1, max_count = 10 }
    renderer = { cpu = 2048, memory = 4096, desired_count = 1, min_count = 1, max_count = 20, ephemeral_storage_gib = 50 }
    webhooks = { cpu = 256, memory = 512, desired_count = 1, min_count = 1, max_count = 6 }
    clips    = { cpu = 2048, memory = 4096, desired_count = 1, min_count = 1, max_count = 30, ephemeral_storage_gib = 50 }
  }
}

variable "image_tags" {
  description = "Image tag per service in the stack's ECR repositories (ingest, scripter, renderer, webhooks)."
  type        = map(string)
}

variable "image_overrides" {
  description = "Full image references per service, instead of the ECR repository and tag."
  type        = map(string)
  default     = {}
}

variable "service_environment" {
  description = "Extra environment variables per service (OMNIGEN_* settings), merged over the stack's."
  type        = map(map(string))
  default     = {}
}

variable "ingest_auth" {
  description = "How ingest checks bearer tokens: RS256 keys (e.g. a Cognito user pool), issuer, audience. Optional with web_signin, which sets them from its pool and client."
  type = object({
    jwks_url = string
    issuer   = string
    audience = string
  })
  default = null
}

variable "web_signin" {
  description = "The web page's hosted sign-in: a Cognito hosted UI domain (domain_prefix: https://PREFIX.auth.REGION.amazoncognito.com) and a public app client (code + PKCE, no secret, callback = each web_origins entry + \"/\") on user_pool_id; ingest then checks that pool's tokens for that client. null: no hosted sign-in."
  type = object({
    user_pool_id  = string
    domain_prefix = string
  })
  default = null

  validation {
    condition     = var.web_signin == null || can(regex("^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", var.web_signin.domain_prefix))
    error_message = "web_signin.domain_prefix: lowercase letters, digits and hyphens (1-63), as Cognito takes them."
  }
}

variable "use_openai" {
  description = "Inject the OpenAI key (scripter's writer, renderer's speech); put its value in Secrets Manager first."
  type        = bool
  default     = false
}

variable "use_replicate" {
  description = "Inject the Replicate token (renderer's clips and music); put its value in Secrets Manager first."
  type        = bool
  default     = false
}

variable "backlog_per_task" {
  description = "Target visible messages per running worker task."
  type        = map(number)
  default = {
    scripter = 5
    renderer = 1
    webhooks = 50 # a delivery takes seconds at most; backoff keeps retried ones invisible
    clips    = 1  # one scene request waiting per clip task
  }
}

variable "stop_timeout_seconds" {
  description = "SIGTERM to SIGKILL; the consumers drain in-flight messages within it (Fargate max 120)."
  type        = number
  default     = 120
}

variable "log_level" {
  description = "OMNIGEN_LOG_LEVEL of every service."
  type        = string
  default     = "INFO"
}

variable "log_retention_days" {
  description = "Days the services' logs are kept."
  type        = number
  default     = 365
}

# --- messaging and alarms ------------------------------------------------------------------

variable "job_request_publisher_arns" {
  description = "Upstream principals allowed to publish to the shared job-requests topic (besides the account's own)."
  type        = list(string)
  default     = []
}

variable "upstream_publishers" {
  description = "Upstream publishers, each with a requests topic of its own (<name_prefix>-job-requests-<name>) that its principal_arns alone may publish to, and the user ids it may request jobs for (exact ids, or prefixes ending in '*')."
  type = map(object({
    principal_arns = list(string)
    user_ids       = list(string)
  }))
  default = {}

  validation {
    condition = alltrue([
      for name, publisher in var.upstream_publishers :
      (
        can(regex("^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$", name)) &&
        length(publisher.principal_arns) > 0 &&
        alltrue([for id in publisher.user_ids : can(regex("^[^*]+\\*?$|^\\*$", id))])
      )
    ])
    error_message = "upstream_publishers: names of lowercase letters, digits and '-'; at least one principal; user ids exact or ending in one '*'."
  }
}

variable "shared_topic_user_ids" {
  description = "The user ids requests through the shared job-requests topic may name (['*']: any, as before per-publisher topics; []: closed)."
  type        = list(string)
  default     = ["*"]
}

variable "max_message_age_seconds" {
  description = "Oldest-message age alarm threshold per queue key (default 900 s)."
  type        = map(number)
  default = {
    renderer = 1800
    webhooks = 90000 # retries run for about a day while a receiver is down: alarm past that
  }
}

variable "alarm_emails" {
  description = "Addresses that receive the alarms."
  type        = list(string)
  default     = []
}

variable "alarm_topic_enabled" {
  description = "Create the alarm topic and have every alarm notify it (false: alarms only change state)."
  type        = bool
  default     = true
}

variable "metrics_enabled" {
  description = "The services write CloudWatch EMF metrics to their logs (the dashboard and the job alarms need them)."
  type        = bool
  default     = true
}

variable "job_failure_rate_percent" {
  description = "Alarm when more than this share of the jobs that ended failed (3 periods of 5 min)."
  type        = number
  default     = 10
}

variable "stage_latency_p95_seconds" {
  description = "Alarm when a stage's p95 duration exceeds this many seconds, per stage."
  type        = map(number)
  default = {
    script         = 120
    "render.scene" = 900
  }
}
