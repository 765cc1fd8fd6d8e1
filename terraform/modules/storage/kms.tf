data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "storage_key" {
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

resource "aws_kms_key" "storage" {
  description             = "${var.name_prefix}: jobs table and assets bucket"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.storage_key.json
}

resource "aws_kms_alias" "storage" {
  name          = "alias/${var.name_prefix}-storage"
  target_key_id = aws_kms_key.storage.key_id
}
