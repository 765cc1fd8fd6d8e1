# Copy to <environment>.tfvars, fill in your network and certificate, then:
#   terraform init && terraform apply -var-file=<environment>.tfvars
environment = "staging"
region      = "eu-west-1"
name_prefix = "omnigen"

vpc_id             = "vpc-0123456789abcdef0"
private_subnet_ids = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
public_subnet_ids  = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]
alb_ingress_cidrs  = ["0.0.0.0/0"]
certificate_arn    = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
# the web page's origin: the bucket lets it POST users' uploads (CORS)
web_origins = ["https://video.example.com"]

image_tags = {
  ingest   = "0.1.0"
  scripter = "0.1.0"
  renderer = "0.1.0"
  webhooks = "0.1.0"
}

services = {
  ingest   = { cpu = 512, memory = 1024, desired_count = 2, min_count = 2, max_count = 6 }
  scripter = { cpu = 256, memory = 512, desired_count = 1, min_count = 1, max_count = 10 }
  renderer = { cpu = 2048, memory = 4096, desired_count = 1, min_count = 1, max_count = 20, ephemeral_storage_gib = 50 }
  webhooks = { cpu = 256, memory = 512, desired_count = 1, min_count = 1, max_count = 6 }
}

backlog_per_task = {
  scripter = 5
  renderer = 1
  webhooks = 50
}

# Offline providers until the keys are in Secrets Manager (see the provider_secret_names output).
use_openai    = false
use_replicate = false

# How ingest checks bearer tokens (a Cognito user pool here).
ingest_auth = {
  jwks_url = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_EXAMPLE/.well-known/jwks.json"
  issuer   = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_EXAMPLE"
  audience = "omnigen-api"
}

# The web page's hosted sign-in (optional): a hosted UI domain and an app client on this pool;
# ingest then checks the pool's tokens for that client (ingest_auth may then be left out).
# web_signin = {
#   user_pool_id  = "eu-west-1_EXAMPLE"
#   domain_prefix = "omnigen-video"
# }

# Any other OMNIGEN_* setting, per service.
service_environment = {
  ingest = {
    OMNIGEN_MAX_RUNNING_JOBS = "5"
  }
  renderer = {
    OMNIGEN_WORKER_CONCURRENCY = "1"
  }
}

alarm_emails = ["oncall@example.com"]

# Upstream systems that request jobs over SNS: each gets a topic of its own that only its
# principals may publish to, and may request jobs only for the user ids listed (exact, or a
# prefix ending in '*'). The shared job-requests topic keeps shared_topic_user_ids (default ["*"]).
upstream_publishers = {
  crm = {
    principal_arns = ["arn:aws:iam::111122223333:role/crm-job-publisher"]
    user_ids       = ["crm-*"]
  }
}
