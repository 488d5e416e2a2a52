#!/usr/bin/env bash
# Debian's Chromium for the console's browser tests (tests/console_browser.test.ts), driven by
# playwright-core pointed at /usr/bin/chromium (never playwright's own browser download).
# Usage: scripts/chromium.sh install|check
#   install   apt-get install chromium when /usr/bin/chromium is missing (idempotent; as root)
#   check     exit 0 when /usr/bin/chromium runs headless, else say why and exit 1
set -euo pipefail
. "$(dirname "$0")/_lib.sh"

BIN=/usr/bin/chromium

works() { "$BIN" --headless --no-sandbox --disable-gpu --version >/dev/null 2>&1; }

install() {
  if [ -x "$BIN" ] && works; then return 0; fi
  [ "$(id -u)" = 0 ] || die "Chromium is missing and we are not root; as root run: apt-get install chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends chromium >&2 || die "apt-get install chromium failed"
  [ -x "$BIN" ] || die "chromium installed but $BIN is missing"
  works || die "$BIN is installed but does not run: $("$BIN" --headless --no-sandbox --version 2>&1 | tail -n 3)"
}

check() {
  [ -x "$BIN" ] || die "$BIN is missing: run scripts/chromium.sh install (as root)"
  works || die "$BIN does not run headless: $("$BIN" --headless --no-sandbox --version 2>&1 | tail -n 3)"
  "$BIN" --version
}

case "${1:-}" in
  install) install ;;
  check) check ;;
  *) die "usage: scripts/chromium.sh install|check" ;;
esac
