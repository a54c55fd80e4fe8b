#!/usr/bin/env bash
# Makes sure the system programs Rigflow runs against are installed, from Debian's packages when
# they are missing. Usage: ensure-system-packages.sh [command ...] (default: what the tests need).
# A program that is missing and cannot be installed is a loud failure, never a silent skip.
set -euo pipefail

declare -A package_of=([redis-server]=redis-server [socat]=socat [chromium]=chromium)
wanted=("$@")
# chromium: the dashboard's browser test drives Debian's Chromium (never a downloaded browser).
[ ${#wanted[@]} -eq 0 ] && wanted=(redis-server socat chromium)

missing=()
for command in "${wanted[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${package_of[$command]:-$command}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "rigflow: installing missing system packages: ${missing[*]}" >&2
if ! command -v apt-get >/dev/null 2>&1; then
  echo "rigflow: cannot install ${missing[*]}: no apt-get here. Install them with your package manager." >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo -n); else
    echo "rigflow: cannot install ${missing[*]}: not root and no sudo. Run: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >&2
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
for command in "${wanted[@]}"; do
  if ! command -v "$command" >/dev/null 2>&1; then
    echo "rigflow: $command is still missing after installing ${missing[*]}" >&2
    exit 1
  fi
done
