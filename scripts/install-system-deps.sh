#!/usr/bin/env bash
# System packages the project needs beyond Python wheels. Idempotent; skips what is present.
set -euo pipefail
need=()
command -v make >/dev/null 2>&1 || need+=(make)
if [[ ${#need[@]} -gt 0 ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "[install-system-deps] please install: ${need[*]}" >&2
        exit 1
    fi
    apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi
echo "[install-system-deps] ok"
