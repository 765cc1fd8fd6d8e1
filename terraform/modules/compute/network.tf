# Tasks accept no traffic but the load balancer's to ingest, and send only HTTPS (AWS APIs, ECR,
# model providers).
resource "aws_security_group" "task" {
  for_each    = var.services
  name        = "${var.name_prefix}-${each.key}-task"
  description = "omnigen ${each.key} tasks"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "task_https" {
  # AWS APIs and model providers have no fixed addresses, so the port, not the address, is limited.
  for_each          = var.services
  security_group_id = aws_security_group.task[each.key].id
  description       = "HTTPS to AWS APIs and model providers"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "ingest_from_alb" {
  security_group_id            = aws_security_group.task["ingest"].id
  description                  = "HTTP from the ingest load balancer"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_security_group" "alb" {
  name        = "${var.name_prefix}-ingest-alb"
  description = "omnigen ingest load balancer"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each          = toset(var.alb_ingress_cidrs)
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from clients"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "alb_to_ingest" {
  security_group_id            = aws_security_group.alb.id
  description                  = "HTTP to ingest tasks"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.task["ingest"].id
}
