#!/usr/bin/env bash
# Installs LocalStack's own code into a separate Python 3.13 venv so it can run on the host
# without Docker. Idempotent: a second run only checks the pinned versions and exits.
#
#   scripts/install-localstack.sh            # venv at <repo>/.localstack-venv
#   OMNIGEN_LOCALSTACK_VENV=/some/dir scripts/install-localstack.sh
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${OMNIGEN_LOCALSTACK_VENV:-${repo_root}/.localstack-venv}"

# Versions seen running together on these machines (see DESIGN.md, "Local AWS").
pins=(
    "localstack-core[runtime]==2026.3.0"
    "cbor2==5.9.0"
    "pyopenssl==24.2.1"
    "cryptography==43.0.3"
    "service-identity==24.2.0"
)

# LocalStack's API catalog, built once here instead of at every start (saves ~3 s per run).
# LocalStackServer links it into each run's own FILESYSTEM_ROOT.
prebuilt="${venv}/omnigen-filesystem"
catalog_dir="${prebuilt}/usr/lib/localstack"

log() { printf '[install-localstack] %s\n' "$*"; }
fail() { printf '[install-localstack] error: %s\n' "$*" >&2; exit 1; }

find_python313() {
    if command -v pyenv >/dev/null 2>&1; then
        local candidate
        candidate="$(pyenv root)/versions/3.13.0/bin/python3.13"
        if [[ -x "${candidate}" ]]; then
            printf '%s\n' "${candidate}"
            return 0
        fi
    fi
    if command -v python3.13 >/dev/null 2>&1; then
        command -v python3.13
        return 0
    fi
    return 1
}

# Prints nothing and exits 0 when every pin is installed at its exact version.
check_pins() {
    "${venv}/bin/python" - "${pins[@]}" <<'PY'
import re
import sys
from importlib.metadata import PackageNotFoundError, version

if sys.version_info[:2] != (3, 13):
    print(f"python is {sys.version.split()[0]}, not 3.13")
    sys.exit(1)
bad = []
for pin in sys.argv[1:]:
    name, wanted = pin.split("==")
    name = re.sub(r"\[.*\]", "", name)
    try:
        have = version(name)
    except PackageNotFoundError:
        have = "missing"
    if have != wanted:
        bad.append(f"{name} {have} (want {wanted})")
if bad:
    print("; ".join(bad))
    sys.exit(1)
PY
}

build_catalog() {
    log "building the service catalog in ${catalog_dir}"
    rm -rf "${prebuilt}"
    mkdir -p "${catalog_dir}"
    # cd away from the repo: `python -m` puts the working directory on sys.path.
    (cd "${venv}" && FILESYSTEM_ROOT="${prebuilt}" OVERRIDE_IN_DOCKER=0 DISABLE_EVENTS=1 \
        "${venv}/bin/python" -m localstack.aws.spec) \
        || fail "could not build LocalStack's service catalog"
}

has_catalog() {
    compgen -G "${catalog_dir}/service-catalog-*.dill" >/dev/null
}

if [[ -x "${venv}/bin/python" ]]; then
    if mismatch="$(check_pins)"; then
        has_catalog || build_catalog
        log "already installed in ${venv}: ${pins[*]}"
        exit 0
    fi
    log "venv ${venv} needs work: ${mismatch}"
    if ! "${venv}/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))'; then
        log "removing ${venv}: it is not Python 3.13"
        rm -rf "${venv}"
    fi
fi

if [[ ! -x "${venv}/bin/python" ]]; then
    python313="$(find_python313)" || fail "Python 3.13 not found: install it with \
'pyenv install 3.13.0' or put python3.13 on PATH, then run this script again"
    log "creating venv ${venv} with ${python313}"
    "${python313}" -m venv "${venv}"
fi

log "installing ${pins[*]}"
"${venv}/bin/python" -m pip install --quiet "${pins[@]}"

if ! mismatch="$(check_pins)"; then
    fail "installed versions do not match the pins: ${mismatch}"
fi
"${venv}/bin/python" -c 'import localstack.runtime.main' \
    || fail "localstack.runtime.main does not import in ${venv}"
build_catalog
log "done: LocalStack runs with ${venv}/bin/python -m localstack.runtime.main"
