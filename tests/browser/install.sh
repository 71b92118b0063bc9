#!/usr/bin/env bash
# Installs what tests/tests/browser.rs and browser_sockjs.rs need: Debian's Chromium (never
# a browser that playwright downloads), and playwright-core, sockjs-client and
# @stomp/stompjs from tests/browser/package-lock.json.
# Run as root from anywhere: `bash tests/browser/install.sh`.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing Debian's chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "tests/browser/install.sh: node and npm are needed (Node >= 20 for playwright-core)" >&2
  exit 1
fi

node_major=$(node --version | sed 's/^v//; s/\..*//')
if [ "${node_major:-0}" -lt 20 ]; then
  echo "tests/browser/install.sh: Node >= 20 is needed (found $(node --version)); Debian 12's" >&2
  echo "  nodejs is 18: install Node 20 from nodejs.org or NodeSource, or use Debian 13" >&2
  exit 1
fi
echo "== npm ci --prefix tests/browser (playwright-core, sockjs-client, @stomp/stompjs; no browser download)"
npm ci --prefix tests/browser --no-audit --no-fund
