# renderer: consumes script.ready, renders scenes, audio and the final MP4 into S3, completes the
# job, publishes job.completed / job.failed. Every AWS action its code calls, and nothing else:
locals {
  renderer_actions = {
    # JobRepository: get_job, and conditional updates (stage with progress metadata, lease,
    # published, mark complete / failed). It never creates or lists jobs: no PutItem, Query, index.
    dynamodb = [
      "dynamodb:GetItem",
      "dynamodb:UpdateItem",
    ]
    # SQS consumer runtime on the renderer queue (the Delete/ChangeVisibility actions also
    # authorise their *Batch forms).
    sqs = [
      "sqs:ChangeMessageVisibility",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
      "sqs:ReceiveMessage",
    ]
    # The dead-letter watcher on its queue's DLQ.
    dead_letters = ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]
    # EventPublisher: job.completed / job.failed on the events topic.
    sns = ["sns:Publish"]
    # AssetStore: scene clips, last frames, audio, video and poster. PutObject covers the
    # multipart calls (Create/UploadPart/Complete); GetObject covers HEAD (resuming a job).
    s3_objects = ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    # S3 answers that HEAD with 404 for a missing key (AssetStore.exists) only to a caller
    # that may list the bucket; without it the answer is 403 and the resume check fails.
    s3_bucket = ["s3:ListBucket"]
    # The upload checker reads each arrived upload (and settles it in the table: UpdateItem).
    s3_uploads = ["s3:GetObject"]
    # Data keys behind the table, bucket, queue and topic.
    kms = ["kms:Decrypt", "kms:GenerateDataKey"]
  }
  renderer_queue_keys = ["renderer", "scenes"]
  renderer_topic_keys = ["job_events"]
  renderer_secrets    = ["openai", "replicate"] # speech; clips and music
}

data "aws_iam_policy_document" "renderer_task" {
  statement {
    sid       = "JobsTable"
    actions   = local.renderer_actions.dynamodb
    resources = [var.table_arn]
  }

  statement {
    sid       = "OwnQueue"
    actions   = local.renderer_actions.sqs
    resources = [for key in local.renderer_queue_keys : var.queue_arns[key]]
  }

  # The dead-letter watcher: reads its queue's DLQ, fails the job a letter names, deletes it.
  statement {
    sid       = "OwnDeadLetters"
    actions   = local.renderer_actions.dead_letters
    resources = [for key in local.renderer_queue_keys : var.dlq_arns[key]]
  }

  statement {
    sid       = "PublishEvents"
    actions   = local.renderer_actions.sns
    resources = [for key in local.renderer_topic_keys : var.topic_arns[key]]
  }

  statement {
    sid       = "JobAssets"
    actions   = local.renderer_actions.s3_objects
    resources = [local.job_assets_arn]
  }

  statement {
    sid       = "ReadUploads"
    actions   = local.renderer_actions.s3_uploads
    resources = [local.uploads_arn]
  }

  # The upload checker's notices from the bucket (no dead-letter watcher: they fail no job).
  statement {
    sid       = "UploadNotices"
    actions   = local.renderer_actions.sqs
    resources = [var.queue_arns["uploads"]]
  }

  statement {
    sid       = "ListJobAssets"
    actions   = local.renderer_actions.s3_bucket
    resources = [var.bucket_arn] # no s3:prefix condition: a HEAD of an object sends none
  }

  statement {
    sid       = "DataKeys"
    actions   = local.renderer_actions.kms
    resources = [var.storage_kms_key_arn, var.messaging_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.data_key_via_services
    }
  }
}

resource "aws_iam_role" "renderer_task" {
  name               = "${var.name_prefix}-renderer-task"
  description        = "omnigen renderer: what its code calls on AWS"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "renderer_task" {
  name   = "renderer"
  role   = aws_iam_role.renderer_task.id
  policy = data.aws_iam_policy_document.renderer_task.json
}
