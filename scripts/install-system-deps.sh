#!/usr/bin/env bash
# System packages the project needs beyond Python wheels. Idempotent; skips what is present.
#   make:                  the Makefile
#   fonts-noto-core:       caption fonts for Latin, Arabic, Hebrew and Devanagari (Noto Sans ...)
#   fonts-noto-cjk:        caption fonts for Chinese, Japanese and Korean (Noto Sans CJK)
#   chromium, chromium-driver: the headless browser and its WebDriver for the web page's
#                          browser tests (tests/e2e/test_web.py); nothing is downloaded at run time
# ffmpeg (with libass, HarfBuzz and FriBidi) and espeak-ng come in Python wheels.
set -euo pipefail
need=()
command -v make >/dev/null 2>&1 || need+=(make)
for package in fonts-noto-core fonts-noto-cjk chromium chromium-driver; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || need+=("$package")
done
if [[ ${#need[@]} -gt 0 ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "[install-system-deps] please install: ${need[*]}" >&2
        exit 1
    fi
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
echo "[install-system-deps] ok"
