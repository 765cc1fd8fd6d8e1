output "ingest_url" {
  description = "The ingest API behind its load balancer."
  value       = module.compute.ingest_url

  precondition {
    condition     = var.ingest_auth != null || var.web_signin != null
    error_message = "Set ingest_auth (an identity provider's JWKS, issuer, audience) or web_signin (a Cognito user pool): ingest needs to check tokens."
  }
}

output "web_signin" {
  description = "The web page's hosted sign-in (null without web_signin): what ingest got as OMNIGEN_AUTH_SIGNIN_URL and OMNIGEN_AUTH_CLIENT_ID, and the client's callback URLs."
  value = local.signin_enabled ? {
    signin_url    = local.signin_url
    client_id     = aws_cognito_user_pool_client.web[0].id
    issuer        = local.cognito_issuer
    callback_urls = local.signin_urls
  } : null
}

output "table_name" {
  value = module.storage.table_name
}

output "bucket_name" {
  description = "Assets bucket; the services get it as OMNIGEN_BUCKET_NAME."
  value       = module.storage.bucket_name
}

output "topic_arns" {
  value = module.messaging.topic_arns
}

output "publisher_topic_arns" {
  description = "Give each upstream publisher its own topic's ARN: it publishes its job requests there."
  value       = module.messaging.publisher_topic_arns
}

output "queue_urls" {
  value = module.messaging.queue_urls
}

output "dlq_names" {
  value = module.messaging.dlq_names
}

output "ecr_repository_urls" {
  description = "Push each service's image here, tagged with image_tags[service]."
  value       = module.compute.ecr_repository_urls
}

output "provider_secret_names" {
  description = "Put the provider keys here (aws secretsmanager put-secret-value) before use_openai/use_replicate."
  value       = module.secrets.secret_names
}

output "task_role_arns" {
  value = module.iam.task_role_arns
}

output "cluster_name" {
  value = module.compute.cluster_name
}

output "alarm_topic_arn" {
  value = module.observability.alarm_topic_arn
}

output "dashboard_name" {
  value = module.observability.dashboard_name
}
