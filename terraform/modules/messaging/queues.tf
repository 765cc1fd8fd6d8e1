resource "aws_sqs_queue" "dlq" {
  for_each                          = local.queues
  name                              = each.value.dlq_name
  message_retention_seconds         = each.value.dlq_retention_seconds
  kms_master_key_id                 = aws_kms_key.messaging.arn
  kms_data_key_reuse_period_seconds = 300
}

resource "aws_sqs_queue" "main" {
  for_each                          = local.queues
  name                              = each.value.name
  visibility_timeout_seconds        = each.value.visibility_timeout_seconds
  message_retention_seconds         = each.value.message_retention_seconds
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = aws_kms_key.messaging.arn
  kms_data_key_reuse_period_seconds = 300
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = each.value.max_receive_count
  })
}

# A DLQ takes dead letters only from its own source queue.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each  = local.queues
  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.main[each.key].arn]
  })
}

# Only the subscribed topic may send to a queue (aws:SourceArn), and only over TLS.
data "aws_iam_policy_document" "queue" {
  for_each = local.subscriptions

  statement {
    sid       = "TopicDelivers"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.main[each.value.queue].arn]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_sns_topic.this[each.value.topic].arn]
    }
  }

  # The ingest queue also takes every upstream publisher's own requests topic.
  dynamic "statement" {
    for_each = each.value.queue == "ingest_requests" && length(var.upstream_publishers) > 0 ? [1] : []
    content {
      sid       = "PublisherTopicsDeliver"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.main[each.value.queue].arn]
      principals {
        type        = "Service"
        identifiers = ["sns.amazonaws.com"]
      }
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [for topic in aws_sns_topic.publisher : topic.arn]
      }
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.main[each.value.queue].arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "main" {
  for_each  = local.subscriptions
  queue_url = aws_sqs_queue.main[each.value.queue].id
  policy    = data.aws_iam_policy_document.queue[each.key].json
}

resource "aws_sns_topic_subscription" "queue" {
  for_each             = local.subscriptions
  topic_arn            = aws_sns_topic.this[each.value.topic].arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.main[each.value.queue].arn
  raw_message_delivery = each.value.raw_message_delivery
  # The provider refuses a scope without a policy: an unfiltered subscription sets neither.
  filter_policy_scope = each.value.event_types == null ? null : "MessageAttributes"
  filter_policy       = each.value.event_types == null ? null : jsonencode({ event_type = each.value.event_types })

  depends_on = [aws_sqs_queue_policy.main]
}

# Each upstream publisher's topic delivers to ingest as SNS's envelope, which names the topic.
resource "aws_sns_topic_subscription" "publisher" {
  for_each             = var.upstream_publishers
  topic_arn            = aws_sns_topic.publisher[each.key].arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.main["ingest_requests"].arn
  raw_message_delivery = false

  depends_on = [aws_sqs_queue_policy.main]
}

# The uploads queue takes S3's notices from the assets bucket alone, and only over TLS
# (resources.py: BucketNotification; the bucket's side is storage's aws_s3_bucket_notification).
data "aws_iam_policy_document" "uploads_queue" {
  statement {
    sid       = "BucketNotifies"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.main["uploads"].arn]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [var.bucket_arn]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.main["uploads"].arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "uploads" {
  queue_url = aws_sqs_queue.main["uploads"].id
  policy    = data.aws_iam_policy_document.uploads_queue.json
}
