# The assets bucket: every job's media under jobs/<job_id>/ (see ports.job_prefix), users' own
# uploads under uploads/<owner digest>/ (domain.uploads.owner_prefix).
resource "aws_s3_bucket" "assets" {
  #checkov:skip=CKV_AWS_144:Assets are derived media that can be rendered again; cross-region replication would double storage for no recovery gain.
  bucket = var.bucket_name
}

resource "aws_s3_bucket_ownership_controls" "assets" {
  bucket = aws_s3_bucket.assets.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "assets" {
  bucket                  = aws_s3_bucket.assets.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# The web page POSTs a user's upload straight to its presigned POST: a cross-origin request from
# the page's origin, allowed here only for POST (the POST policy still decides what may land).
resource "aws_s3_bucket_cors_configuration" "assets" {
  count  = length(var.web_origins) > 0 ? 1 : 0
  bucket = aws_s3_bucket.assets.id
  cors_rule {
    allowed_methods = ["POST"]
    allowed_origins = var.web_origins
    allowed_headers = ["*"]
    max_age_seconds = 3600
  }
}

resource "aws_s3_bucket_versioning" "assets" {
  bucket = aws_s3_bucket.assets.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "assets" {
  bucket = aws_s3_bucket.assets.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.storage.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "assets" {
  bucket = aws_s3_bucket.assets.id

  rule {
    id     = "expire-job-assets"
    status = "Enabled"
    filter {
      prefix = "jobs/"
    }
    expiration {
      days = var.asset_expiration_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
  }

  # An upload's record expires like a job (longer while a job uses it); its bytes go with the
  # job assets' age.
  rule {
    id     = "expire-user-uploads"
    status = "Enabled"
    filter {
      prefix = "uploads/"
    }
    expiration {
      days = var.asset_expiration_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
  }

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.assets]
}

data "aws_iam_policy_document" "assets" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.assets.arn,
      "${aws_s3_bucket.assets.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "assets" {
  bucket     = aws_s3_bucket.assets.id
  policy     = data.aws_iam_policy_document.assets.json
  depends_on = [aws_s3_bucket_public_access_block.assets]
}

resource "aws_s3_bucket_logging" "assets" {
  bucket        = aws_s3_bucket.assets.id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "s3/${var.bucket_name}/"
}

# A user's upload is checked once its bytes arrive (resources.py: BucketNotification).
resource "aws_s3_bucket_notification" "uploads" {
  bucket = aws_s3_bucket.assets.id
  queue {
    queue_arn     = var.uploads_queue_arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = "uploads/"
  }
}
