# One dashboard: jobs in and out, the failure rate and why jobs fail, how long each stage and
# each provider takes, how long messages wait in their queues, and the queues' own backlog.
locals {
  ns  = local.metrics_namespace
  mn  = local.metric_names
  dim = local.dimension_keys

  # Of the jobs that ended in the period, the share that failed (0 when none ended).
  failure_rate_expression = "IF(FILL(failed, 0) + FILL(done, 0) > 0, 100 * FILL(failed, 0) / (FILL(failed, 0) + FILL(done, 0)), 0)"

  dashboard_widgets = [
    {
      type = "metric", x = 0, y = 0, width = 8, height = 6
      properties = {
        title = "Jobs (per 5 min)", region = var.region, stat = "Sum", period = 300
        view  = "timeSeries"
        metrics = [
          [local.ns, local.mn.jobs_accepted, { label = "accepted" }],
          [local.ns, local.mn.jobs_completed, { label = "completed" }],
          [local.ns, local.mn.jobs_failed, { label = "failed" }],
        ]
      }
    },
    {
      type = "metric", x = 8, y = 0, width = 8, height = 6
      properties = {
        title = "Job failure rate (%)", region = var.region, period = 300, view = "timeSeries"
        metrics = [
          [local.ns, local.mn.jobs_failed, { id = "failed", stat = "Sum", visible = false }],
          [local.ns, local.mn.jobs_completed, { id = "done", stat = "Sum", visible = false }],
          [{ expression = local.failure_rate_expression, label = "failed %", id = "rate" }],
        ]
        annotations = { horizontal = [{ label = "alarm", value = var.job_failure_rate_percent }] }
      }
    },
    {
      type = "metric", x = 16, y = 0, width = 8, height = 6
      properties = {
        title = "Failed jobs by reason class", region = var.region, stat = "Sum", period = 300
        view  = "timeSeries", stacked = true
        metrics = [
          for reason in local.reason_classes :
          [local.ns, local.mn.jobs_failed, local.dim.reason_class, reason, { label = reason }]
        ]
      }
    },
    {
      type = "metric", x = 0, y = 6, width = 12, height = 6
      properties = {
        title = "Stage duration p95 (ms)", region = var.region, stat = "p95", period = 300
        view  = "timeSeries"
        metrics = [
          for stage, service in local.metric_stages :
          [local.ns, local.mn.stage_duration, local.dim.service, service, local.dim.stage, stage]
        ]
      }
    },
    {
      type = "metric", x = 12, y = 6, width = 12, height = 6
      properties = {
        title = "Queue lag p95: a message's age when received (ms)", region = var.region
        stat  = "p95", period = 60, view = "timeSeries"
        metrics = [
          for service in local.metric_services :
          [local.ns, local.mn.queue_lag, local.dim.service, service]
        ]
      }
    },
    {
      type = "metric", x = 0, y = 12, width = 12, height = 6
      properties = {
        title = "Provider latency p95 (ms)", region = var.region, stat = "p95", period = 300
        view  = "timeSeries"
        metrics = [
          for provider, service in local.metric_providers :
          [local.ns, local.mn.provider_latency, local.dim.service, service, local.dim.provider, provider]
        ]
      }
    },
    {
      type = "metric", x = 12, y = 12, width = 12, height = 6
      properties = {
        title = "Provider errors (per 5 min)", region = var.region, stat = "Sum", period = 300
        view  = "timeSeries"
        metrics = [
          for provider, service in local.metric_providers :
          [local.ns, local.mn.provider_errors, local.dim.service, service, local.dim.provider, provider]
        ]
      }
    },
    {
      type = "metric", x = 0, y = 18, width = 24, height = 6
      properties = {
        title  = "Oldest message per queue (s)", region = var.region, stat = "Maximum"
        period = 60, view = "timeSeries"
        metrics = [
          for key, queue in var.queues :
          ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue.name]
        ]
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "pipeline" {
  dashboard_name = "${var.name_prefix}-pipeline"
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
