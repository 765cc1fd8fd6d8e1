variable "name_prefix" {
  description = "Prefix of the secret names."
  type        = string
}

variable "readers" {
  description = "Role ARNs allowed to read each secret, by secret key (openai, replicate)."
  type        = map(list(string))

  validation {
    condition = alltrue([
      for key in ["openai", "replicate"] : length(lookup(var.readers, key, [])) > 0
    ])
    error_message = "readers must name at least one role for each of openai and replicate."
  }
}

variable "recovery_window_days" {
  description = "Days a deleted secret can still be restored."
  type        = number
  default     = 7
}
