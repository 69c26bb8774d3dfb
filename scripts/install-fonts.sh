#!/usr/bin/env bash
# Install the Japanese fonts that make the synthetic set K49-like: hentaigana (IPAmj Mincho) and
# brush or handwriting hands (Kouzan, Aoyagi, Klee), Debian's packages. Without them k49 still
# builds a synthetic set, from one font, which is much easier than K49 (and says so).
#  - all packages installed: nothing to do;
#  - root, or passwordless sudo, with apt-get: apt-get install the missing ones;
#  - otherwise: one line saying it skipped them, and the command to run.
# Prints one line and never fails the build (exit 0), unless --strict is given (CI, whose tests
# need the fonts).
set -uo pipefail
PACKAGES=(fonts-ipamj-mincho fonts-kouzan-mouhitsu fonts-aoyagi-soseki fonts-aoyagi-kouzan-t
          fonts-klee)
strict=0
[ "${1:-}" = "--strict" ] && strict=1

skip() {
    echo "install-fonts.sh: skipped the Japanese fonts ($1), so the synthetic set will be" \
         "easier than K49; to install them run: sudo apt-get install ${missing[*]}"
    exit "$strict"
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "Japanese fonts already installed: ${PACKAGES[*]}"
    exit 0
fi
command -v apt-get >/dev/null 2>&1 || skip "no apt-get: not Debian or Ubuntu"
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    skip "not root and no passwordless sudo"
fi
apt() { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq "$@" >/dev/null 2>&1; }
# The package lists may be stale (or absent, in a fresh container): refresh them once on failure.
if apt install -y "${missing[@]}" || { apt update && apt install -y "${missing[@]}"; }; then
    echo "installed Japanese fonts with apt-get: ${missing[*]}"
else
    skip "apt-get install failed"
fi
