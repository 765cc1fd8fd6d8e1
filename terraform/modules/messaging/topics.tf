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

# One requests topic per upstream publisher: its principals alone may publish (an account root
# stands for every principal of that account), so the topic a request arrives through names its
# publisher, and ingest's OMNIGEN_UPSTREAM_USER_RULES says which user ids that one may act for.
resource "aws_sns_topic" "publisher" {
  for_each          = var.upstream_publishers
  name              = "${var.name_prefix}-job-requests-${each.key}"
  kms_master_key_id = aws_kms_key.messaging.arn
}

data "aws_iam_policy_document" "publisher_topic" {
  for_each = var.upstream_publishers

  statement {
    sid       = "PublisherPublishes"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.publisher[each.key].arn]
    principals {
      type        = "AWS"
      identifiers = each.value
    }
  }

  statement {
    sid       = "NobodyElsePublishes"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.publisher[each.key].arn]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotLike"
      variable = "aws:PrincipalArn"
      values   = [for arn in each.value : endswith(arn, ":root") ? "${trimsuffix(arn, "root")}*" : arn]
    }
  }
}

resource "aws_sns_topic_policy" "publisher" {
  for_each = var.upstream_publishers
  arn      = aws_sns_topic.publisher[each.key].arn
  policy   = data.aws_iam_policy_document.publisher_topic[each.key].json
}
