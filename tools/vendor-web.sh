#!/usr/bin/env bash
# Refreshes the charting library the HTML reports embed: installs the exact
# versions pinned in framework/src/report/web/package-lock.json (npm checks
# each package's integrity hash) and copies the minified browser bundle and
# the licences next to it. The copies are committed, so building needs no
# network and no Node; run this only to change the pinned version:
#   edit package.json, then: (cd framework/src/report/web && npm install --package-lock-only --ignore-scripts)
#   tools/vendor-web.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
web="$root/framework/src/report/web"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp "$web/package.json" "$web/package-lock.json" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
modules="$work/node_modules"
cp "$modules/chart.js/dist/chart.umd.min.js" "$web/chart.umd.min.js"
# The bundle carries @kurkle/color inside it, so both licences go with it.
cp "$modules/chart.js/LICENSE.md" "$web/LICENSE.chart.js.md"
cp "$modules/@kurkle/color/LICENSE.md" "$web/LICENSE.kurkle-color.md"
version="$(node -p "require('$modules/chart.js/package.json').version")"
echo "vendored chart.js $version: $(wc -c < "$web/chart.umd.min.js") bytes in $web/chart.umd.min.js"
