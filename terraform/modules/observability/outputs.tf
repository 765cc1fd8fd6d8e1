output "alarm_topic_arn" {
  value = var.alarm_topic_enabled ? aws_sns_topic.alarms[0].arn : null
}

output "dashboard_name" {
  value = aws_cloudwatch_dashboard.pipeline.dashboard_name
}

output "alarm_names" {
  value = concat(
    [for alarm in aws_cloudwatch_metric_alarm.dlq_not_empty : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.oldest_message_age : alarm.alarm_name],
    [aws_cloudwatch_metric_alarm.job_failure_rate.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.stage_latency : alarm.alarm_name],
  )
}
