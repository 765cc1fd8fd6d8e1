data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

# SNS must encrypt into the queues and CloudWatch must publish alarms to an encrypted topic, so
# both services may use this key; everything else goes through IAM.
data "aws_iam_policy_document" "messaging_key" {
  #checkov:skip=CKV_AWS_109:Key policies name the key itself as "*"; administration stays with the account root as AWS recommends.
  #checkov:skip=CKV_AWS_111:Key policies name the key itself as "*"; write access is the account root's, delegated through IAM.
  #checkov:skip=CKV_AWS_356:In a key policy "*" means this key only.
  statement {
    sid       = "AccountAdministersKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "SnsAndCloudWatchEncryptForThisAccount"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com", "cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }

  statement {
    sid       = "S3EncryptsUploadNoticesFromTheAssetsBucket"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
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

  dynamic "statement" {
    for_each = length(local.upstream_principals) > 0 ? [1] : []
    content {
      sid       = "UpstreamPublishersEncryptThroughSns"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = local.upstream_principals
      }
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["sns.${data.aws_region.current.region}.amazonaws.com"]
      }
    }
  }
}

# Publishing to an encrypted topic needs the key: the upstream publishers may use it, through
# SNS only.
locals {
  upstream_principals = distinct(concat(var.job_request_publisher_arns, flatten(values(var.upstream_publishers))))
}

resource "aws_kms_key" "messaging" {
  description             = "${var.name_prefix}: SNS topics and SQS queues"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.messaging_key.json
}

resource "aws_kms_alias" "messaging" {
  name          = "alias/${var.name_prefix}-messaging"
  target_key_id = aws_kms_key.messaging.key_id
}
