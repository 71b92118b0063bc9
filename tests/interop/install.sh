#!/usr/bin/env bash
# Installs the real clients of the interop tests (tests/tests/interop.rs) on a Debian
# machine: @stomp/stompjs, ws and stompit from the npm registry, stomp.py from PyPI. Downloads no
# browser. Safe to run again.
#
#   bash tests/interop/install.sh
#
# Then: cargo test -p tests --test interop -- --nocapture
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "interop: installing Debian packages: $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
  else
    echo "interop: missing $*; install them (Debian: apt-get install $*)" >&2
    exit 1
  fi
}

# --- Node.js: @stomp/stompjs, ws and stompit, exactly as locked in package-lock.json ---------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
echo "interop: node $(node --version), npm $(npm --version)"
npm ci --prefix "$here" --no-audit --no-fund --loglevel=error

# --- Python: stomp.py --------------------------------------------------------------------
python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null 2>&1; then
  apt_install python3 python3-pip
fi
if ! "$python" -m pip --version >/dev/null 2>&1; then
  apt_install python3-pip
fi
echo "interop: $("$python" --version)"
pip_args=(install --quiet --disable-pip-version-check --root-user-action=ignore -r "$here/requirements.txt")
if ! "$python" -m pip "${pip_args[@]}"; then
  # Debian's own python3 refuses system-wide installs (PEP 668); the tests run it directly.
  echo "interop: retrying pip with --break-system-packages (externally managed Python)" >&2
  "$python" -m pip "${pip_args[@]}" --break-system-packages
fi
"$python" -c 'import stomp, websocket; print("interop: stomp.py", stomp.__version__, "websocket-client", websocket.__version__)'
