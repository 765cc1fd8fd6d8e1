output "alarm_topic_arn" {
  value = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  value = concat(
    [for alarm in aws_cloudwatch_metric_alarm.dlq_not_empty : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.oldest_message_age : alarm.alarm_name],
  )
}
