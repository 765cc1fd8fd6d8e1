# Workers scale on backlog per task: visible messages / running tasks, held near a target.
# ingest scales on CPU.
resource "aws_appautoscaling_target" "service" {
  for_each           = var.services
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.service[each.key].name}"
  min_capacity       = each.value.min_count
  max_capacity       = each.value.max_count
}

resource "aws_appautoscaling_policy" "backlog_per_task" {
  for_each           = var.worker_queues
  name               = "${var.name_prefix}-${each.key}-backlog-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.service[each.key].service_namespace
  scalable_dimension = aws_appautoscaling_target.service[each.key].scalable_dimension
  resource_id        = aws_appautoscaling_target.service[each.key].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.backlog_per_task[each.key]
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    customized_metric_specification {
      metrics {
        id          = "visible"
        label       = "messages waiting"
        return_data = false
        metric_stat {
          stat = "Sum"
          metric {
            namespace   = "AWS/SQS"
            metric_name = "ApproximateNumberOfMessagesVisible"
            dimensions {
              name  = "QueueName"
              value = each.value
            }
          }
        }
      }

      metrics {
        id          = "tasks"
        label       = "running tasks"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"
            dimensions {
              name  = "ClusterName"
              value = aws_ecs_cluster.this.name
            }
            dimensions {
              name  = "ServiceName"
              value = aws_ecs_service.service[each.key].name
            }
          }
        }
      }

      metrics {
        id          = "backlog_per_task"
        label       = "messages waiting per running task"
        expression  = "visible / tasks"
        return_data = true
      }
    }
  }
}

resource "aws_appautoscaling_policy" "ingest_cpu" {
  name               = "${var.name_prefix}-ingest-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.service["ingest"].service_namespace
  scalable_dimension = aws_appautoscaling_target.service["ingest"].scalable_dimension
  resource_id        = aws_appautoscaling_target.service["ingest"].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.ingest_cpu_target
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
