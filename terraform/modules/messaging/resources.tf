# The messaging half of omnigen.shared.resources.resource_spec(), table for table; the test
# tests/deploy/test_terraform.py compares these locals with the spec and the resources below.
locals {
  topics = {
    job_requests = "${var.name_prefix}-job-requests"
    job_events   = "${var.name_prefix}-job-events"
  }

  queues = {
    ingest_requests = {
      name                       = "${var.name_prefix}-ingest-requests"
      dlq_name                   = "${var.name_prefix}-ingest-requests-dlq"
      visibility_timeout_seconds = 60
      max_receive_count          = 5
      message_retention_seconds  = 345600  # 4 days
      dlq_retention_seconds      = 1209600 # 14 days: longer than the source, so nothing expires unseen
    }
    scripter = {
      name                       = "${var.name_prefix}-scripter"
      dlq_name                   = "${var.name_prefix}-scripter-dlq"
      visibility_timeout_seconds = 45 # the heartbeat keeps long work hidden; a crash waits this
      max_receive_count          = 5
      message_retention_seconds  = 345600
      dlq_retention_seconds      = 1209600
    }
    renderer = {
      name                       = "${var.name_prefix}-renderer"
      dlq_name                   = "${var.name_prefix}-renderer-dlq"
      visibility_timeout_seconds = 45
      max_receive_count          = 4
      message_retention_seconds  = 345600
      dlq_retention_seconds      = 1209600
    }
    scenes = {
      name                       = "${var.name_prefix}-scenes"
      dlq_name                   = "${var.name_prefix}-scenes-dlq"
      visibility_timeout_seconds = 45 # clip work: one scene per message
      max_receive_count          = 4
      message_retention_seconds  = 345600
      dlq_retention_seconds      = 1209600
    }
    job_outcomes = {
      name                       = "${var.name_prefix}-job-outcomes"
      dlq_name                   = "${var.name_prefix}-job-outcomes-dlq"
      visibility_timeout_seconds = 60
      max_receive_count          = 5
      message_retention_seconds  = 345600
      dlq_retention_seconds      = 1209600
    }
    # Webhook delivery retries through visibility (1 min doubling to 12 h, with jitter):
    # 13 receives span about a day; 4 days' retention leaves room for a redrive.
    webhooks = {
      name                       = "${var.name_prefix}-webhooks"
      dlq_name                   = "${var.name_prefix}-webhooks-dlq"
      visibility_timeout_seconds = 30
      max_receive_count          = 13
      message_retention_seconds  = 345600
      dlq_retention_seconds      = 1209600
    }
    # S3's notices of users' uploads (the bucket sends them, not a topic); the renderer checks.
    uploads = {
      name                       = "${var.name_prefix}-uploads"
      dlq_name                   = "${var.name_prefix}-uploads-dlq"
      visibility_timeout_seconds = 60
      max_receive_count          = 3
      message_retention_seconds  = 345600
      dlq_retention_seconds      = 1209600
    }
  }

  # Subscriptions filter on the `event_type` message attribute; null event_types: every event.
  # ingest_requests takes everything: the requests topic carries job requests only, and an
  # upstream sender may leave the attribute out (ingest answers each one: job or job.rejected).
  # It gets SNS's envelope (no raw delivery), which names the topic a request came through;
  # each upstream publisher's own topic (topics.tf) is subscribed the same way.
  subscriptions = {
    ingest_requests = {
      topic                = "job_requests"
      queue                = "ingest_requests"
      event_types          = null
      raw_message_delivery = false
    }
    scripter = {
      topic                = "job_events"
      queue                = "scripter"
      event_types          = ["job.accepted"]
      raw_message_delivery = true
    }
    renderer = {
      topic                = "job_events"
      queue                = "renderer"
      event_types          = ["script.ready", "audio.requested", "compose.requested"]
      raw_message_delivery = true
    }
    scenes = {
      topic                = "job_events"
      queue                = "scenes"
      event_types          = ["scene.requested", "keyframe.requested"]
      raw_message_delivery = true
    }
    job_outcomes = {
      topic                = "job_events"
      queue                = "job_outcomes"
      event_types          = ["job.completed", "job.failed", "job.rejected", "script.awaiting_review"]
      raw_message_delivery = true
    }
    webhooks = {
      topic                = "job_events"
      queue                = "webhooks"
      event_types          = ["job.completed", "job.failed", "script.awaiting_review"]
      raw_message_delivery = true
    }
  }
}
