output "task_role_arns" {
  description = "Task role ARNs by service: what the service's code may call."
  value = {
    ingest   = aws_iam_role.ingest_task.arn
    scripter = aws_iam_role.scripter_task.arn
    renderer = aws_iam_role.renderer_task.arn
    webhooks = aws_iam_role.webhooks_task.arn
  }
}

output "execution_role_arns" {
  description = "Execution role ARNs by service: image pull, logs, provider keys."
  value       = { for service, role in aws_iam_role.execution : service => role.arn }
}

output "secret_readers" {
  description = "Execution role ARNs allowed to read each provider secret."
  value = {
    for secret in ["openai", "replicate"] : secret => [
      for service, secrets in local.execution_secrets : aws_iam_role.execution[service].arn
      if contains(secrets, secret)
    ]
  }
}
