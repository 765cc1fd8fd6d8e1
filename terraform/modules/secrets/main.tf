# Provider keys live in Secrets Manager; Terraform creates the secrets but never their values, so
# no key reaches the state file. Put a value with:
#   aws secretsmanager put-secret-value --secret-id <name> --secret-string '<key>'
locals {
  secrets = {
    openai    = "OpenAI-compatible API key (scripts; narration speech)"
    replicate = "Replicate API token (scene clips; music)"
  }
}

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "secrets_key" {
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
}

resource "aws_kms_key" "secrets" {
  description             = "${var.name_prefix}: provider API keys"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.secrets_key.json
}

resource "aws_kms_alias" "secrets" {
  name          = "alias/${var.name_prefix}-secrets"
  target_key_id = aws_kms_key.secrets.key_id
}

resource "aws_secretsmanager_secret" "provider" {
  #checkov:skip=CKV2_AWS_57:Third-party API keys are issued by OpenAI and Replicate; they rotate at the provider, not through a rotation Lambda.
  for_each                = local.secrets
  name                    = "${var.name_prefix}/${each.key}-api-key"
  description             = each.value
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = var.recovery_window_days
}

# Only the named roles may read a value; nobody else in the account, whatever their IAM says.
data "aws_iam_policy_document" "provider" {
  for_each = local.secrets

  statement {
    sid       = "OnlyNamedReaders"
    effect    = "Deny"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = var.readers[each.key]
    }
  }
}

resource "aws_secretsmanager_secret_policy" "provider" {
  for_each   = local.secrets
  secret_arn = aws_secretsmanager_secret.provider[each.key].arn
  policy     = data.aws_iam_policy_document.provider[each.key].json
}
