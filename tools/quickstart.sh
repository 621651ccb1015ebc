#!/usr/bin/env bash
# Sets up, builds, and runs the main job on the built-in synthetic data.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

tools/setup.sh
tools/build.sh
build_dir="${CEREBRA_BUILD_DIR:-build}"
"$build_dir/bin/cerebra" list
"$build_dir/bin/cerebra" run configs/quickstart.toml "$@"
