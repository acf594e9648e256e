#!/usr/bin/env bash
# The intake benchmark drives the HTTP endpoints with wrk (Debian's package). Installs it when missing.
set -euo pipefail
command -v wrk >/dev/null 2>&1 && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing wrk from Debian's packages"
$sudo apt-get install -y -q wrk >/dev/null || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q wrk >/dev/null; }
