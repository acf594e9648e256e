#!/usr/bin/env bash
# The browser tests drive Debian's chromium (no browser can be downloaded by the test tools here),
# and the screens need CJK fonts to show Chinese; the tests read the QR codes as a phone does
# (zbarimg, from zbar-tools) from the screen and from the poster rendered by pdftoppm (poppler-utils).
# Installs what is missing.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v zbarimg >/dev/null 2>&1 || need+=(zbar-tools)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q "ok installed" || need+=(fonts-noto-cjk)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing ${need[*]} from Debian's packages"
$sudo apt-get install -y -q "${need[@]}" >/dev/null || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q "${need[@]}" >/dev/null; }
