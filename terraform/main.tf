# omnigen on AWS: the resources of omnigen.shared.resources.resource_spec(var.name_prefix)
# (storage, messaging) plus the ECS services that use them, their roles, keys and alarms.
data "aws_caller_identity" "current" {}

# The load balancer's nodes take their addresses from its subnets: ingest believes
# X-Forwarded-Proto/-For (HTTPS, HSTS, client addresses) from these networks only.
data "aws_subnet" "alb" {
  for_each = toset(var.public_subnet_ids)
  id       = each.value
}

locals {
  # The spec's <prefix>-assets, made globally unique by environment and account.
  bucket_name = "${var.name_prefix}-assets-${var.environment}-${data.aws_caller_identity.current.account_id}"

  # The console script each service's package installs (services/<svc>/pyproject.toml).
  entrypoints = {
    ingest   = "omnigen-ingest"
    scripter = "omnigen-scripter"
    renderer = "omnigen-renderer"
    webhooks = "omnigen-webhooks"
    clips    = "omnigen-renderer" # the renderer distribution, clip work only
  }

  common_environment = {
    AWS_REGION              = var.region
    OMNIGEN_REGION          = var.region
    OMNIGEN_RESOURCE_PREFIX = var.name_prefix
    OMNIGEN_BUCKET_NAME     = module.storage.bucket_name
    OMNIGEN_LOG_LEVEL       = var.log_level
    OMNIGEN_LOG_JSON        = "true"
    # CloudWatch embedded metric format on stdout: the awslogs driver ships it, CloudWatch
    # extracts the metrics the dashboard and alarms use.
    OMNIGEN_METRICS = var.metrics_enabled ? "true" : "false"
    # Known here, so no service needs sns:ListTopics to find it.
    OMNIGEN_WORKER_EVENTS_TOPIC_ARN = module.messaging.topic_arns["job_events"]
    XDG_CACHE_HOME                  = "/tmp/.cache" # the root filesystem is read-only
  }

  default_service_environment = {
    ingest = {
      OMNIGEN_HOST                = "0.0.0.0"
      OMNIGEN_PORT                = "8000"
      OMNIGEN_FORWARDED_ALLOW_IPS = join(",", sort([for subnet in data.aws_subnet.alb : subnet.cidr_block]))
      # Who may request jobs for whom (omnigen.ingest.trust); the topics are the messaging module's.
      OMNIGEN_UPSTREAM_USER_RULES         = jsonencode({ for name, publisher in var.upstream_publishers : name => publisher.user_ids })
      OMNIGEN_UPSTREAM_SHARED_TOPIC_USERS = jsonencode(var.shared_topic_user_ids)
      # What the scripter and renderer run, for language checks and GET /v1/voices.
      OMNIGEN_SCRIPT_WRITER      = var.use_openai ? "openai" : "planner"
      OMNIGEN_NARRATION_PROVIDER = var.use_openai ? "openai" : "local"
    }
    scripter = {}
    renderer = {
      OMNIGEN_NARRATION_PROVIDER = var.use_openai ? "openai" : "local"
      OMNIGEN_CLIP_PROVIDER      = var.use_replicate ? "replicate" : "local"
      OMNIGEN_MUSIC_PROVIDER     = var.use_replicate ? "replicate" : "local"
    }
    # Never OMNIGEN_WEBHOOKS_ALLOW_LOOPBACK here: deployed webhooks go to public https only.
    webhooks = {}
    clips = { # the renderer's, in its clip-only role
      OMNIGEN_RENDER_ROLE        = "clips"
      OMNIGEN_NARRATION_PROVIDER = var.use_openai ? "openai" : "local"
      OMNIGEN_CLIP_PROVIDER      = var.use_replicate ? "replicate" : "local"
      OMNIGEN_MUSIC_PROVIDER     = var.use_replicate ? "replicate" : "local"
    }
  }

  environment = {
    for service in keys(local.entrypoints) : service => merge(
      local.common_environment,
      local.default_service_environment[service],
      service == "ingest" ? local.ingest_auth_environment : {}, # signin.tf
      lookup(var.service_environment, service, {}),
    )
  }

  # Which provider key reaches which service as which setting (the secrets module lets only
  # these services' execution roles read them), while its use_* switch is on.
  provider_keys = {
    ingest = {}
    scripter = {
      OMNIGEN_OPENAI_API_KEY = { secret = "openai", enabled = var.use_openai }
    }
    renderer = {
      OMNIGEN_SPEECH_API_KEY      = { secret = "openai", enabled = var.use_openai }
      OMNIGEN_REPLICATE_API_TOKEN = { secret = "replicate", enabled = var.use_replicate }
    }
    webhooks = {}
    clips = { # the renderer's, for the same code
      OMNIGEN_SPEECH_API_KEY      = { secret = "openai", enabled = var.use_openai }
      OMNIGEN_REPLICATE_API_TOKEN = { secret = "replicate", enabled = var.use_replicate }
    }
  }

  secrets = {
    for service in keys(local.entrypoints) : service => {
      for name, key in local.provider_keys[service] :
      name => module.secrets.secret_arns[key.secret] if key.enabled
    }
  }
}

module "storage" {
  source              = "./modules/storage"
  name_prefix         = var.name_prefix
  bucket_name         = local.bucket_name
  deletion_protection = var.deletion_protection
  uploads_queue_arn   = module.messaging.queue_arns["uploads"]
  web_origins         = var.web_origins
}

module "messaging" {
  source                     = "./modules/messaging"
  name_prefix                = var.name_prefix
  bucket_arn                 = "arn:aws:s3:::${local.bucket_name}"
  job_request_publisher_arns = var.job_request_publisher_arns
  upstream_publishers        = { for name, publisher in var.upstream_publishers : name => publisher.principal_arns }
}

module "secrets" {
  source      = "./modules/secrets"
  name_prefix = var.name_prefix
  readers     = module.iam.secret_readers
}

module "iam" {
  source                = "./modules/iam"
  name_prefix           = var.name_prefix
  table_arn             = module.storage.table_arn
  bucket_arn            = module.storage.bucket_arn
  storage_kms_key_arn   = module.storage.kms_key_arn
  messaging_kms_key_arn = module.messaging.kms_key_arn
  secrets_kms_key_arn   = module.secrets.kms_key_arn
  queue_arns            = module.messaging.queue_arns
  dlq_arns              = module.messaging.dlq_arns
  topic_arns            = module.messaging.topic_arns
  secret_arns           = module.secrets.secret_arns
  log_group_arns        = module.compute.log_group_arns
  ecr_repository_arns   = module.compute.ecr_repository_arns
}

module "compute" {
  source                 = "./modules/compute"
  name_prefix            = var.name_prefix
  vpc_id                 = var.vpc_id
  private_subnet_ids     = var.private_subnet_ids
  public_subnet_ids      = var.public_subnet_ids
  alb_internal           = var.alb_internal
  alb_ingress_cidrs      = var.alb_ingress_cidrs
  certificate_arn        = var.certificate_arn
  alb_access_logs_bucket = module.storage.access_logs_bucket_name
  deletion_protection    = var.deletion_protection
  services               = var.services
  runs_as                = { clips = "renderer" }
  image_tags             = var.image_tags
  image_overrides        = var.image_overrides
  entrypoints            = local.entrypoints
  environment            = local.environment
  secrets                = local.secrets
  task_role_arns         = module.iam.task_role_arns
  execution_role_arns    = module.iam.execution_role_arns
  stop_timeout_seconds   = var.stop_timeout_seconds
  log_retention_days     = var.log_retention_days
  backlog_per_task       = var.backlog_per_task
  worker_queues = {
    scripter = module.messaging.queue_names["scripter"]
    renderer = module.messaging.queue_names["renderer"]
    webhooks = module.messaging.queue_names["webhooks"]
    clips    = module.messaging.queue_names["scenes"] # clip work scales on its own backlog
  }
}

module "observability" {
  source                    = "./modules/observability"
  name_prefix               = var.name_prefix
  alarm_kms_key_arn         = module.messaging.kms_key_arn
  alarm_emails              = var.alarm_emails
  alarm_topic_enabled       = var.alarm_topic_enabled
  max_message_age_seconds   = var.max_message_age_seconds
  region                    = var.region
  job_failure_rate_percent  = var.job_failure_rate_percent
  stage_latency_p95_seconds = var.stage_latency_p95_seconds
  queues = {
    for key, name in module.messaging.queue_names : key => {
      name     = name
      dlq_name = module.messaging.dlq_names[key]
    }
  }
}
