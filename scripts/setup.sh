#!/usr/bin/env bash
# Installs the system packages numaseg needs to build, if they are missing (Debian).
# hwlocality needs libhwloc-dev and pkg-config; Debian's hwloc.pc also lists -ludev.
set -euo pipefail
need=()
for pkg in libhwloc-dev pkg-config libudev-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "setup: installing ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${need[@]}" \
    || { $SUDO apt-get update -q && $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${need[@]}"; }
fi
