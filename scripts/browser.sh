#!/usr/bin/env bash
# The headless browser the dashboard's tests drive: Debian's Chromium and its WebDriver.
#
#   scripts/browser.sh      install chromium and chromium-driver from Debian if missing (as root),
#                           then print the two executables' paths
#
# No browser is downloaded from anywhere else (Selenium's own manager is never used: the tests
# pass both paths explicitly).
set -euo pipefail

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [[ "$(id -u)" != 0 ]]; then
        echo "browser: Chromium is not installed; as root: apt-get install chromium chromium-driver" >&2
        exit 1
    fi
    echo "browser: installing Chromium from Debian's packages" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver >&2 \
        || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
             --no-install-recommends chromium chromium-driver >&2; }
fi
command -v chromium
command -v chromedriver
