#!/usr/bin/env bash
# `make demo`: the whole story on the built-in simulator, no API keys needed.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step ftjanitor validate jobs/
ftjanitor validate jobs/

step ftjanitor validate tests/invalid/28-many-errors.yaml "   # an invalid file: every error, exit 2"
ftjanitor validate tests/invalid/28-many-errors.yaml || echo "(exit code $?)"
