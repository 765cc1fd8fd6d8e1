resource "aws_sns_topic" "this" {
  for_each          = local.topics
  name              = each.value
  kms_master_key_id = aws_kms_key.messaging.arn
}

data "aws_iam_policy_document" "job_requests_topic" {
  statement {
    sid       = "AccountPublishes"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.this["job_requests"].arn]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  dynamic "statement" {
    for_each = length(var.job_request_publisher_arns) > 0 ? [1] : []
    content {
      sid       = "UpstreamPublishes"
      actions   = ["sns:Publish"]
      resources = [aws_sns_topic.this["job_requests"].arn]
      principals {
        type        = "AWS"
        identifiers = var.job_request_publisher_arns
      }
    }
  }
}

resource "aws_sns_topic_policy" "job_requests" {
  arn    = aws_sns_topic.this["job_requests"].arn
  policy = data.aws_iam_policy_document.job_requests_topic.json
}
