# webhooks: consumes job.completed / job.failed from its own queue, reads the job and the
# owner's webhooks, records every delivery attempt, presigns links to the video and poster.
# Every AWS action its code calls, and nothing else:
locals {
  webhooks_actions = {
    # JobRepository.get_job; WebhookStore: deliveries (a conditional Put, then Update), attempts
    # and statuses (UpdateItem), a user's webhooks and signing key (GetItem, BatchGetItem).
    dynamodb = [
      "dynamodb:BatchGetItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
    ]
    # SQS consumer runtime on the webhooks queue; a failed attempt's backoff is a
    # ChangeMessageVisibility of up to 12 h. No dead-letter watcher: a dead letter waits for
    # `omnigen dlq redrive webhooks`, it fails no job.
    sqs = [
      "sqs:ChangeMessageVisibility",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
      "sqs:ReceiveMessage",
    ]
    # Presigned links to a completed job's video and poster are signed with this role.
    s3_objects = ["s3:GetObject"]
    kms        = ["kms:Decrypt", "kms:GenerateDataKey"]
  }
  webhooks_queue_keys = ["webhooks"]
  webhooks_secrets    = [] # signs with the users' own webhook secrets, stored in the table
}

data "aws_iam_policy_document" "webhooks_task" {
  statement {
    sid       = "JobsTable"
    actions   = local.webhooks_actions.dynamodb
    resources = [var.table_arn]
  }

  statement {
    sid       = "OwnQueue"
    actions   = local.webhooks_actions.sqs
    resources = [for key in local.webhooks_queue_keys : var.queue_arns[key]]
  }

  statement {
    sid       = "JobAssets"
    actions   = local.webhooks_actions.s3_objects
    resources = [local.job_assets_arn]
  }

  statement {
    sid       = "DataKeys"
    actions   = local.webhooks_actions.kms
    resources = [var.storage_kms_key_arn, var.messaging_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.data_key_via_services
    }
  }
}

resource "aws_iam_role" "webhooks_task" {
  name               = "${var.name_prefix}-webhooks-task"
  description        = "omnigen webhooks: what its code calls on AWS"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "webhooks_task" {
  name   = "webhooks"
  role   = aws_iam_role.webhooks_task.id
  policy = data.aws_iam_policy_document.webhooks_task.json
}
