#!/usr/bin/env bash
# Installs every Debian package Cerebra needs that is missing, and nothing else.
# Quiet and fast when everything is present. Prints what it installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopencv-dev
  libboost-dev libboost-filesystem-dev libboost-program-options-dev
  libfmt-dev libtomlplusplus-dev libgtest-dev nlohmann-json3-dev
  libsqlite3-dev libgloo-dev
)
# Extra packages a caller asks for (e.g. the Python reference of the benchmarks).
packages+=("$@")

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: installed ${missing[*]}"
