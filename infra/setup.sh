#!/usr/bin/env bash
# Installs everything the ledger needs on a fresh Debian 12 machine with Node 20 (root or sudo):
# kcat (the embedded Kafka-protocol test cluster), redis-server (the limit counters), zstd, chromium
# (the usage page's browser test), pnpm 10, and the workspace's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
missing=""
command -v kcat >/dev/null 2>&1 || missing="$missing kcat"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v zstd >/dev/null 2>&1 || missing="$missing zstd" # tests compress zstd bodies with it
command -v chromium >/dev/null 2>&1 || missing="$missing chromium" # the usage page's browser test (playwright-core drives it)
if [ -n "$missing" ]; then
  echo "setup: installing$missing" >&2
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
if ! command -v pnpm >/dev/null 2>&1 || ! pnpm --version | grep -q '^10\.'; then
  echo "setup: installing pnpm 10" >&2
  $SUDO npm install -g pnpm@10 >/dev/null 2>&1
fi
echo "setup: installing workspace packages" >&2
CI=true pnpm install --frozen-lockfile --reporter=silent
