#!/usr/bin/env bash
# Sets up, builds, and runs the main job on the built-in synthetic data.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

tools/setup.sh
tools/build.sh
build_dir="${CEREBRA_BUILD_DIR:-build}"
"$build_dir/bin/cerebra" list
# The run prints its directory last; its report.html is the place to start reading.
started="$(mktemp)"
trap 'rm -f "$started"' EXIT
"$build_dir/bin/cerebra" run configs/quickstart.toml "$@"
report="$(find runs -name report.html -newer "$started" 2>/dev/null | head -n 1)"
if [ -n "$report" ]; then
  echo "report: $root/$report"
else
  echo "no report.html under runs/ (was [run] output overridden?); the run's log above names its directory"
fi
