# What every service shares: who may assume the roles, where job assets live, which AWS service
# may use the data keys on a role's behalf.
data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

locals {
  services = toset(["ingest", "scripter", "renderer", "webhooks"])

  user_jobs_index_arn = "${var.table_arn}/index/UserJobsIndex"
  outbox_index_arn    = "${var.table_arn}/index/OutboxIndex"
  job_assets_arn      = "${var.bucket_arn}/jobs/*"    # ports.job_prefix: jobs/<job_id>/
  uploads_arn         = "${var.bucket_arn}/uploads/*" # domain.uploads.owner_prefix

  # Data keys are usable only through the AWS services that hold the data.
  data_key_via_services = [for service in ["dynamodb", "s3", "sqs", "sns"] :
    "${service}.${data.aws_region.current.region}.amazonaws.com"
  ]
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:aws:ecs:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:*"]
    }
  }
}
