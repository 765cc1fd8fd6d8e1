# The jobs table of resources.py: key job_id, GSI UserJobsIndex (user_id + created_at), sparse GSI
# OutboxIndex (outbox + created_at, keys only: the jobs whose job.accepted is still owed), TTL `ttl`.
resource "aws_dynamodb_table" "jobs" {
  name                        = "${var.name_prefix}-jobs"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "job_id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "job_id"
    type = "S"
  }

  attribute {
    name = "user_id"
    type = "S"
  }

  attribute {
    name = "created_at"
    type = "N"
  }

  attribute {
    name = "outbox"
    type = "S"
  }

  global_secondary_index {
    name            = "UserJobsIndex"
    hash_key        = "user_id"
    range_key       = "created_at"
    projection_type = "ALL"
  }

  global_secondary_index {
    name            = "OutboxIndex"
    hash_key        = "outbox"
    range_key       = "created_at"
    projection_type = "KEYS_ONLY"
  }

  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.storage.arn
  }
}
