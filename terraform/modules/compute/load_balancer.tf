# ingest behind an HTTPS load balancer; targets are healthy while /healthz answers 200.
resource "aws_lb" "ingest" {
  # A WAF web ACL, if the organisation has one, is associated outside this stack.
  name                       = substr("${var.name_prefix}-ingest", 0, 32)
  internal                   = var.alb_internal
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.public_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = 120 # SSE progress streams send heartbeats well inside this

  access_logs {
    bucket  = var.alb_access_logs_bucket
    prefix  = "alb/${var.name_prefix}-ingest"
    enabled = true
  }
}

resource "aws_lb_target_group" "ingest" {
  # TLS ends at the load balancer; the hop to the task stays inside the VPC, between security
  # groups that admit only each other.
  name                 = substr("${var.name_prefix}-ingest", 0, 32)
  port                 = var.container_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 60

  health_check {
    path                = "/healthz"
    matcher             = "200"
    protocol            = "HTTP"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.ingest.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.ingest.arn
  }
}
