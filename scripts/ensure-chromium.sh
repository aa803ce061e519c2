#!/usr/bin/env bash
# Installs Debian's `chromium` for the browser tests (web chat round trip through
# playwright-core), when it is missing. playwright-core never downloads a browser: the tests
# launch /usr/bin/chromium. Needs root (or passwordless sudo) the first time only.
#
#   bash scripts/ensure-chromium.sh      # prints the browser's path
set -euo pipefail
# shellcheck source=scripts/lib/logged.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/logged.sh"

if command -v chromium >/dev/null 2>&1; then
  command -v chromium
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo -n); else
    echo "chromium is missing and we are not root: install it with 'apt-get install chromium'" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
# A fresh container has empty package lists; update once, and only when the package is unknown.
if ! apt-cache show chromium >/dev/null 2>&1; then
  run_logged chromium "updating the package lists" "${sudo_cmd[@]}" apt-get update -qq
fi
run_logged chromium "installing chromium (apt-get)" \
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
command -v chromium
