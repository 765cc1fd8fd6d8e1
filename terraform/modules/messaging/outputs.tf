output "topic_arns" {
  description = "Topic ARNs by key (job_requests, job_events)."
  value       = { for key, topic in aws_sns_topic.this : key => topic.arn }
}

output "publisher_topic_arns" {
  description = "Each upstream publisher's own requests topic, by publisher name."
  value       = { for key, topic in aws_sns_topic.publisher : key => topic.arn }
}

output "queue_arns" {
  description = "Source queue ARNs by key (ingest_requests, scripter, renderer, scenes, job_outcomes, webhooks, uploads)."
  value       = { for key, queue in aws_sqs_queue.main : key => queue.arn }
}

output "queue_urls" {
  value = { for key, queue in aws_sqs_queue.main : key => queue.id }
}

output "queue_names" {
  value = { for key, queue in aws_sqs_queue.main : key => queue.name }
}

output "dlq_names" {
  value = { for key, queue in aws_sqs_queue.dlq : key => queue.name }
}

output "dlq_arns" {
  value = { for key, queue in aws_sqs_queue.dlq : key => queue.arn }
}

output "kms_key_arn" {
  description = "Key encrypting the topics and queues."
  value       = aws_kms_key.messaging.arn
}
