output "secret_arns" {
  description = "Secret ARNs by key (openai, replicate)."
  value       = { for key, secret in aws_secretsmanager_secret.provider : key => secret.arn }
}

output "secret_names" {
  value = { for key, secret in aws_secretsmanager_secret.provider : key => secret.name }
}

output "kms_key_arn" {
  description = "Key encrypting the secrets."
  value       = aws_kms_key.secrets.arn
}
