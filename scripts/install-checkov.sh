#!/usr/bin/env bash
# Installs checkov (the static security scanner for terraform/ and the Dockerfiles) into its own
# venv. It lives apart from the workspace because it pins boto3 1.35, packaging<24 and its own
# HCL parser, all of which clash with the workspace's aiobotocore, moto and python-hcl2.
# Idempotent: a second run only checks the pinned version and exits.
#
#   scripts/install-checkov.sh            # venv at <repo>/.checkov-venv
#   OMNIGEN_CHECKOV_VENV=/some/dir scripts/install-checkov.sh
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${OMNIGEN_CHECKOV_VENV:-${repo_root}/.checkov-venv}"
checkov_version="3.3.30"

log() { printf '[install-checkov] %s\n' "$*"; }
fail() { printf '[install-checkov] error: %s\n' "$*" >&2; exit 1; }

installed_version() {
    "${venv}/bin/python" -c \
        'from importlib.metadata import version; print(version("checkov"))' 2>/dev/null || true
}

if [[ -x "${venv}/bin/checkov" && "$(installed_version)" == "${checkov_version}" ]]; then
    log "already installed in ${venv}: checkov ${checkov_version}"
    exit 0
fi

if [[ ! -x "${venv}/bin/python" ]]; then
    python="$(command -v python3.11 || command -v python3 || true)"
    [[ -n "${python}" ]] || fail "python3 not found on PATH"
    log "creating venv ${venv} with ${python}"
    "${python}" -m venv "${venv}"
fi

log "installing checkov==${checkov_version}"
"${venv}/bin/python" -m pip install --quiet --upgrade pip
"${venv}/bin/python" -m pip install --quiet "checkov==${checkov_version}"

have="$(installed_version)"
[[ "${have}" == "${checkov_version}" ]] \
    || fail "installed checkov is '${have:-missing}', not ${checkov_version}"
"${venv}/bin/checkov" --version >/dev/null || fail "${venv}/bin/checkov does not run"
log "done: ${venv}/bin/checkov"
