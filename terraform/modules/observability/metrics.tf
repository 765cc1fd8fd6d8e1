# The metrics the services write as CloudWatch embedded metric format (EMF) lines on stdout
# (OMNIGEN_METRICS=true; the awslogs driver ships them and CloudWatch extracts the metrics).
# Every name below must equal omnigen.shared.telemetry.catalog, the code's one source:
# tests/deploy/test_terraform.py compares them, and checks that the dashboard and the alarms
# name metrics, dimensions and the namespace only through these locals.
locals {
  metrics_namespace = "Omnigen"

  metric_names = {
    jobs_accepted    = "JobsAccepted"
    jobs_completed   = "JobsCompleted"
    jobs_failed      = "JobsFailed"
    stage_duration   = "StageDuration"
    provider_latency = "ProviderLatency"
    provider_errors  = "ProviderErrors"
    queue_lag        = "QueueLag"
  }

  dimension_keys = {
    service      = "Service"
    stage        = "Stage"
    provider     = "Provider"
    reason_class = "ReasonClass"
  }

  # Each metric's dimension sets, by the keys above ([] is the metric over everything).
  metric_dimensions = {
    jobs_accepted    = [[]]
    jobs_completed   = [[]]
    jobs_failed      = [[], ["reason_class"]]
    stage_duration   = [["service", "stage"]]
    provider_latency = [["service", "provider"]]
    provider_errors  = [["service", "provider"]]
    queue_lag        = [["service"]]
  }

  metric_services = ["ingest", "scripter", "renderer"]

  # Stage -> the service that runs it.
  metric_stages = {
    "script"         = "scripter"
    "compose"        = "renderer"
    "render.scene"   = "renderer"
    "render.audio"   = "renderer"
    "render.compose" = "renderer"
  }

  # Provider kind -> the service that calls it.
  metric_providers = {
    llm    = "scripter"
    clips  = "renderer"
    speech = "renderer"
    music  = "renderer"
  }

  reason_classes = [
    "provider",
    "step",
    "permanent",
    "retries_exhausted",
    "dead_letter",
    "malformed_event",
    "cancelled",
  ]
}
