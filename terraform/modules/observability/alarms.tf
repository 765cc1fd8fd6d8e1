# Alarms on what the services report (EMF metrics, see metrics.tf): the share of ended jobs
# that failed, and each watched stage's p95 duration.
resource "aws_cloudwatch_metric_alarm" "job_failure_rate" {
  alarm_name          = "${var.name_prefix}-job-failure-rate"
  alarm_description   = "More than ${var.job_failure_rate_percent} % of the jobs that ended failed: see the dashboard's failures by reason class."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.job_failure_rate_percent
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "rate"
    expression  = local.failure_rate_expression
    label       = "failed %"
    return_data = true
  }

  metric_query {
    id = "failed"
    metric {
      namespace   = local.metrics_namespace
      metric_name = local.metric_names.jobs_failed
      period      = 300
      stat        = "Sum"
    }
  }

  metric_query {
    id = "done"
    metric {
      namespace   = local.metrics_namespace
      metric_name = local.metric_names.jobs_completed
      period      = 300
      stat        = "Sum"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "stage_latency" {
  for_each            = var.stage_latency_p95_seconds
  alarm_name          = "${var.name_prefix}-stage-${replace(each.key, ".", "-")}-p95"
  alarm_description   = "Stage ${each.key} takes longer than ${each.value} s at p95: providers slow, or tasks starved."
  namespace           = local.metrics_namespace
  metric_name         = local.metric_names.stage_duration
  extended_statistic  = "p95"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = each.value * 1000 # the metric is in milliseconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  dimensions = {
    (local.dimension_keys.service) = local.metric_stages[each.key]
    (local.dimension_keys.stage)   = each.key
  }
}
