# Alarms an operator acts on: a message in any DLQ (a job failed for good, see `omnigen dlq`),
# and a queue whose oldest message waits too long (workers stuck or too few); the job failure
# rate and each stage's p95 duration are in alarms.tf. They notify the alarm topic unless
# `alarm_topic_enabled` is false (then there is no topic, and alarms only change state).
locals {
  alarm_actions = var.alarm_topic_enabled ? [aws_sns_topic.alarms[0].arn] : []
}

resource "aws_sns_topic" "alarms" {
  count             = var.alarm_topic_enabled ? 1 : 0
  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = var.alarm_kms_key_arn
}

moved {
  from = aws_sns_topic.alarms
  to   = aws_sns_topic.alarms[0]
}

resource "aws_sns_topic_subscription" "alarm_email" {
  for_each  = var.alarm_topic_enabled ? toset(var.alarm_emails) : toset([])
  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  for_each            = var.queues
  alarm_name          = "${each.value.dlq_name}-not-empty"
  alarm_description   = "Messages in ${each.value.dlq_name}: inspect and redrive with `omnigen dlq`."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value.dlq_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "oldest_message_age" {
  for_each            = var.queues
  alarm_name          = "${each.value.name}-oldest-message-age"
  alarm_description   = "The oldest message in ${each.value.name} waits too long: workers stuck or too few."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = each.value.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = lookup(var.max_message_age_seconds, each.key, 900)
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
