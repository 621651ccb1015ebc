#!/usr/bin/env bash
# Sets up, builds and runs every test. This is the README's test command and
# what CI runs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# chromium: the report's browser test (tests/report/test_report_browser.cpp)
# opens generated reports headless. sqlite3: the run store's tests
# (tests/store/) read the store with the command-line client.
# python3-torch, python3-torchvision: the export test (tests/export) loads
# `cerebra export` files in Python.
tools/setup.sh chromium sqlite3 python3-torch python3-torchvision
tools/build.sh
# Real-data tests read the shared datasets when they are there.
if [ -z "${CEREBRA_DATA:-}" ] && [ -d "$root/../shared/datasets" ]; then
  export CEREBRA_DATA="$root/../shared/datasets"
fi
cd "${CEREBRA_BUILD_DIR:-build}"
ctest --output-on-failure --parallel "$(nproc)" --timeout 900
