output "cluster_name" {
  value = aws_ecs_cluster.this.name
}

output "service_names" {
  value = { for service, ecs in aws_ecs_service.service : service => ecs.name }
}

output "log_group_arns" {
  value = { for service, group in aws_cloudwatch_log_group.service : service => group.arn }
}

output "ecr_repository_arns" {
  value = { for service, repo in aws_ecr_repository.service : service => repo.arn }
}

output "ecr_repository_urls" {
  value = { for service, repo in aws_ecr_repository.service : service => repo.repository_url }
}

output "ingest_url" {
  description = "HTTPS address of the ingest API (point a DNS name with the certificate's name here)."
  value       = "https://${aws_lb.ingest.dns_name}"
}

output "ingest_load_balancer_arn" {
  value = aws_lb.ingest.arn
}
