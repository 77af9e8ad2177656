#!/bin/sh
# Install Debian's chromium for the console's end-to-end test (tests/test_console_e2e.py).
# Idempotent: does nothing when /usr/bin/chromium exists. Quiet: apt output goes to a log unless it
# fails. Never fatal for the build: without chromium the e2e test skips with a clear reason.
set -u

CHROMIUM=/usr/bin/chromium
LOG="${TMPDIR:-/tmp}/vigil-install-chromium.log"

if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_chromium: apt-get not found; the browser test will be skipped" >&2
    exit 0
fi

# apt needs root; use sudo only when it is there and works without a password (no prompt in make).
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "install_chromium: not root and no password-less sudo; the browser test will be skipped" >&2
    exit 0
fi

echo "install_chromium: installing Debian's chromium (log: $LOG)" >&2
export DEBIAN_FRONTEND=noninteractive
if $SUDO apt-get -qq update >"$LOG" 2>&1 &&
    $SUDO apt-get install -y -qq --no-install-recommends chromium >>"$LOG" 2>&1; then
    echo "install_chromium: done ($($CHROMIUM --version 2>/dev/null || echo "$CHROMIUM"))" >&2
else
    echo "install_chromium: apt-get failed (see $LOG); the browser test will be skipped" >&2
fi
exit 0
