# One task definition and one service per omnigen service.
locals {
  # The services with an image (and repository, roles, log group) of their own; the others
  # run one of theirs (var.runs_as).
  own_services = { for service, size in var.services : service => size if !contains(keys(var.runs_as), service) }
  origin       = { for service in keys(var.services) : service => lookup(var.runs_as, service, service) }

  images = {
    for service in keys(var.services) : service => lookup(
      var.image_overrides, local.origin[service],
      "${aws_ecr_repository.service[local.origin[service]].repository_url}:${var.image_tags[local.origin[service]]}"
    )
  }

  ingest_health_command = join("; ", [
    "import urllib.request",
    "urllib.request.urlopen('http://127.0.0.1:${var.container_port}/healthz', timeout=3)",
  ])

  containers = {
    for service, size in var.services : service => {
      name      = service
      image     = local.images[service]
      essential = true
      command   = [var.entrypoints[service]]
      user      = "10001:10001"
      # Between SIGTERM and SIGKILL: the consumer runtime drains within this.
      stopTimeout            = var.stop_timeout_seconds
      readonlyRootFilesystem = true
      linuxParameters        = { initProcessEnabled = true }
      environment = [
        for name in sort(keys(var.environment[service])) :
        { name = name, value = var.environment[service][name] }
      ]
      secrets = [
        for name in sort(keys(var.secrets[service])) :
        { name = name, valueFrom = var.secrets[service][name] }
      ]
      mountPoints = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
      portMappings = service == "ingest" ? [
        { containerPort = var.container_port, protocol = "tcp" }
      ] : []
      healthCheck = service == "ingest" ? {
        command     = ["CMD", "python", "-c", local.ingest_health_command]
        interval    = 15
        timeout     = 5
        retries     = 3
        startPeriod = 20
      } : null
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.service[local.origin[service]].name
          awslogs-region        = local.region
          awslogs-stream-prefix = service
          mode                  = "non-blocking"
          max-buffer-size       = "4m"
        }
      }
    }
  }
}

resource "aws_ecs_task_definition" "service" {
  for_each                 = var.services
  family                   = "${var.name_prefix}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  task_role_arn            = var.task_role_arns[local.origin[each.key]]
  execution_role_arn       = var.execution_role_arns[local.origin[each.key]]
  container_definitions    = jsonencode([local.containers[each.key]])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  ephemeral_storage {
    size_in_gib = each.value.ephemeral_storage_gib
  }

  # Scratch space (renders, temp files) on a read-only root filesystem.
  volume {
    name = "tmp"
  }
}

resource "aws_ecs_service" "service" {
  for_each                           = var.services
  name                               = "${var.name_prefix}-${each.key}"
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.service[each.key].arn
  desired_count                      = each.value.desired_count
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  propagate_tags                     = "SERVICE"
  enable_ecs_managed_tags            = true
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = each.key == "ingest" ? 30 : null

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.task[each.key].id]
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = each.key == "ingest" ? [1] : []
    content {
      target_group_arn = aws_lb_target_group.ingest.arn
      container_name   = "ingest"
      container_port   = var.container_port
    }
  }

  lifecycle {
    ignore_changes = [desired_count] # owned by autoscaling once running
  }

  depends_on = [aws_lb_listener.https]
}
