#!/usr/bin/env bash
# Refreshes the page's charting library from npm, at the version package-lock.json pins (with its integrity hash),
# into src/main/resources/web/vendor, which the jar serves. Only needed to change the version: the built files are
# committed, so that building, testing and running the dashboard need neither npm nor the network.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund)
vendor="$here/src/main/resources/web/vendor"
cp "$work/node_modules/uplot/dist/uPlot.iife.min.js" "$work/node_modules/uplot/dist/uPlot.min.css" "$vendor/"
cp "$work/node_modules/uplot/LICENSE" "$vendor/uPlot.LICENSE.txt"
echo "uPlot $(node -p "require('$work/node_modules/uplot/package.json').version") copied to $vendor"
