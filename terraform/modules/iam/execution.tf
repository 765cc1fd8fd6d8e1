# Execution roles: what ECS itself does before a container runs — pull the image, ship logs and
# inject the provider keys the service needs (its `<service>_secrets` list, nothing more).
locals {
  execution_secrets = {
    ingest   = local.ingest_secrets
    scripter = local.scripter_secrets
    renderer = local.renderer_secrets
    webhooks = local.webhooks_secrets
  }
}

data "aws_iam_policy_document" "execution" {
  for_each = local.services

  statement {
    sid       = "RegistryLogin"
    actions   = ["ecr:GetAuthorizationToken"] # no resource-level permissions: "*" is required
    resources = ["*"]
  }

  statement {
    sid = "PullOwnImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [var.ecr_repository_arns[each.key]]
  }

  statement {
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.log_group_arns[each.key]}:*"]
  }

  dynamic "statement" {
    for_each = length(local.execution_secrets[each.key]) > 0 ? [1] : []
    content {
      sid       = "OwnProviderKeys"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [for key in local.execution_secrets[each.key] : var.secret_arns[key]]
    }
  }

  dynamic "statement" {
    for_each = length(local.execution_secrets[each.key]) > 0 ? [1] : []
    content {
      sid       = "SecretsKey"
      actions   = ["kms:Decrypt"]
      resources = [var.secrets_kms_key_arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${data.aws_region.current.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role" "execution" {
  for_each           = local.services
  name               = "${var.name_prefix}-${each.key}-execution"
  description        = "ECS agent for omnigen ${each.key}: image, logs, provider keys"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "execution" {
  for_each = local.services
  name     = "execution"
  role     = aws_iam_role.execution[each.key].id
  policy   = data.aws_iam_policy_document.execution[each.key].json
}
