#!/usr/bin/env bash
# Installs the Debian packages Parley needs, or names the missing ones.
# Usage: debian-deps.sh PACKAGE... ; as root it runs apt-get, otherwise it
# prints the command to run and fails, so nothing half-works silently.
set -euo pipefail
if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "parley: not a Debian system; make sure these are installed: $*" >&2
    exit 0
fi
missing=()
for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    echo "parley: installing system packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "parley: missing system packages: ${missing[*]}" >&2
    echo "        install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
