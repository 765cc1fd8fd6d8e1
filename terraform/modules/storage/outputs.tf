output "table_name" {
  value = aws_dynamodb_table.jobs.name
}

output "table_arn" {
  value = aws_dynamodb_table.jobs.arn
}

output "user_jobs_index_arn" {
  value = "${aws_dynamodb_table.jobs.arn}/index/UserJobsIndex"
}

output "bucket_name" {
  value = aws_s3_bucket.assets.bucket
}

output "bucket_arn" {
  value = aws_s3_bucket.assets.arn
}

output "kms_key_arn" {
  description = "Key encrypting the table and the bucket."
  value       = aws_kms_key.storage.arn
}

output "access_logs_bucket_name" {
  description = "Bucket receiving the assets bucket's and the load balancer's access logs (prefix alb/)."
  value       = aws_s3_bucket.access_logs.bucket
  # The load balancer checks that it may write here when it is created.
  depends_on = [aws_s3_bucket_policy.access_logs]
}
