# ingest: HTTP API (create, read, list, cancel, delete jobs; presigned downloads) and consumer of
# upstream job requests. Every AWS action its code calls, and nothing else:
locals {
  ingest_actions = {
    # JobRepository: create/get/list (UserJobsIndex)/update, delete_job for finished jobs, the
    # outbox sweeper's Query of OutboxIndex; DescribeTable for /readyz. WebhookStore: endpoints,
    # signing keys and deliveries (BatchGetItem reads a user's webhooks and a job's deliveries).
    dynamodb = [
      "dynamodb:BatchGetItem",
      "dynamodb:DeleteItem",
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    # SQS consumer runtime on the ingest-requests queue (the Delete/ChangeVisibility actions also
    # authorise their *Batch forms).
    sqs = [
      "sqs:ChangeMessageVisibility",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
      "sqs:ReceiveMessage",
    ]
    # A delivery's resend puts its event back onto the webhooks queue.
    webhooks_queue = ["sqs:GetQueueUrl", "sqs:SendMessage"]
    # EventPublisher: job.accepted / job.rejected / job.failed, and script.ready for an approved
    # review, on the events topic;
    # GetTopicAttributes for /readyz.
    sns = ["sns:GetTopicAttributes", "sns:Publish"]
    # AssetStore: presigned GETs (GetObject also covers HEAD) and deleting a finished job's assets;
    # ListBucket lists a job's prefix and answers HeadBucket for /readyz.
    s3_objects = ["s3:DeleteObject", "s3:GetObject"]
    s3_bucket  = ["s3:ListBucket"]
    # Uploads: the presigned POST of a user's file is signed as PutObject; a deleted upload's
    # object is removed (ListBucket above finds it).
    s3_uploads = ["s3:DeleteObject", "s3:PutObject"]
    # Data keys behind the table, bucket, queue and topic.
    kms = ["kms:Decrypt", "kms:GenerateDataKey"]
  }
  ingest_queue_keys = ["ingest_requests"]
  ingest_topic_keys = ["job_events"]
  ingest_secrets    = [] # runs without provider keys
}

data "aws_iam_policy_document" "ingest_task" {
  statement {
    sid       = "JobsTable"
    actions   = local.ingest_actions.dynamodb
    resources = [var.table_arn, local.user_jobs_index_arn, local.outbox_index_arn]
  }

  statement {
    sid       = "OwnQueue"
    actions   = local.ingest_actions.sqs
    resources = [for key in local.ingest_queue_keys : var.queue_arns[key]]
  }

  statement {
    sid       = "ResendWebhooks"
    actions   = local.ingest_actions.webhooks_queue
    resources = [var.queue_arns["webhooks"]]
  }

  statement {
    sid       = "PublishEvents"
    actions   = local.ingest_actions.sns
    resources = [for key in local.ingest_topic_keys : var.topic_arns[key]]
  }

  statement {
    sid       = "JobAssets"
    actions   = local.ingest_actions.s3_objects
    resources = [local.job_assets_arn]
  }

  statement {
    sid       = "UserUploads"
    actions   = local.ingest_actions.s3_uploads
    resources = [local.uploads_arn]
  }

  statement {
    sid       = "ListJobAssets"
    actions   = local.ingest_actions.s3_bucket
    resources = [var.bucket_arn] # no s3:prefix condition: HeadBucket (/readyz) sends none
  }

  statement {
    sid       = "DataKeys"
    actions   = local.ingest_actions.kms
    resources = [var.storage_kms_key_arn, var.messaging_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.data_key_via_services
    }
  }
}

resource "aws_iam_role" "ingest_task" {
  name               = "${var.name_prefix}-ingest-task"
  description        = "omnigen ingest: what its code calls on AWS"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "ingest_task" {
  name   = "ingest"
  role   = aws_iam_role.ingest_task.id
  policy = data.aws_iam_policy_document.ingest_task.json
}
