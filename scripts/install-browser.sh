#!/usr/bin/env bash
# Install the browser the report's browser test drives: Debian's `chromium` package, at
# /usr/bin/chromium (tests/report/test_browser.py runs it through Playwright's Python package,
# which the `dev` extra installs). Never `playwright install`: that downloads Playwright's own
# browser build from the internet.
#  - /usr/bin/chromium already there: nothing to do.
#  - otherwise: apt-get install chromium (with sudo when not root).
set -euo pipefail
chromium="${K49_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
    echo "chromium already installed: $("$chromium" --version 2>/dev/null || echo "$chromium")"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser.sh: no $chromium and no apt-get: install Chromium with your system's" \
         "package manager, and point K49_CHROMIUM at it if it is not $chromium" >&2
    exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# The package lists may be stale (or absent, in a fresh container): refresh them once on failure.
if ! $SUDO apt-get install -y -qq chromium >/dev/null; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq chromium >/dev/null
fi
if [ ! -x "$chromium" ]; then
    echo "install-browser.sh: installed the chromium package, but $chromium is missing" >&2
    exit 1
fi
echo "chromium installed: $("$chromium" --version 2>/dev/null || echo "$chromium")"
