# scripter: consumes job.accepted, writes the script into the job, publishes script.ready (or
# script.awaiting_review for a job its owner reviews).
# Every AWS action its code calls, and nothing else:
locals {
  scripter_actions = {
    # JobRepository: get_job, and conditional updates (stage, lease, embed_script, published,
    # mark_job_failed). It never creates or lists jobs, so no PutItem, Query or index.
    dynamodb = [
      "dynamodb:GetItem",
      "dynamodb:UpdateItem",
    ]
    # SQS consumer runtime on the scripter queue (the Delete/ChangeVisibility actions also
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
    # EventPublisher: script.ready / script.awaiting_review / job.failed on the events topic.
    sns = ["sns:Publish"]
    # Data keys behind the table, queue and topic.
    kms = ["kms:Decrypt", "kms:GenerateDataKey"]
  }
  scripter_queue_keys = ["scripter"]
  scripter_topic_keys = ["job_events"]
  scripter_secrets    = ["openai"] # the script writer's model
}

data "aws_iam_policy_document" "scripter_task" {
  statement {
    sid       = "JobsTable"
    actions   = local.scripter_actions.dynamodb
    resources = [var.table_arn]
  }

  statement {
    sid       = "OwnQueue"
    actions   = local.scripter_actions.sqs
    resources = [for key in local.scripter_queue_keys : var.queue_arns[key]]
  }

  # The dead-letter watcher: reads its queue's DLQ, fails the job a letter names, deletes it.
  statement {
    sid       = "OwnDeadLetters"
    actions   = local.scripter_actions.dead_letters
    resources = [for key in local.scripter_queue_keys : var.dlq_arns[key]]
  }

  statement {
    sid       = "PublishEvents"
    actions   = local.scripter_actions.sns
    resources = [for key in local.scripter_topic_keys : var.topic_arns[key]]
  }

  statement {
    sid       = "DataKeys"
    actions   = local.scripter_actions.kms
    resources = [var.storage_kms_key_arn, var.messaging_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.data_key_via_services
    }
  }
}

resource "aws_iam_role" "scripter_task" {
  name               = "${var.name_prefix}-scripter-task"
  description        = "omnigen scripter: what its code calls on AWS"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "scripter_task" {
  name   = "scripter"
  role   = aws_iam_role.scripter_task.id
  policy = data.aws_iam_policy_document.scripter_task.json
}
