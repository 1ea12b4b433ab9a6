#!/bin/sh
# The console's third-party assets, from the npm registry at the versions pinned in package-lock.json
# files: htmx and uPlot (web/) are copied into src/llmaas/console/static/vendor (served locally, carried
# by a wheel, git-ignored); with "test", also the OpenID Connect providers and axe-core the console's tests
# use (tests/console/oidc). Re-runs only when a lock file changed.
set -eu
cd "$(dirname "$0")/.."
install() {  # install FOLDER: npm ci, unless node_modules already matches the lock
  if [ ! -f "$1/node_modules/.package-lock.json" ] || ! cmp -s "$1/package-lock.json" "$1/node_modules/.llmaas-lock"; then
    npm ci --prefix "$1" --no-audit --no-fund --ignore-scripts --loglevel=error
    cp "$1/package-lock.json" "$1/node_modules/.llmaas-lock"
  fi
}
assets=web
install "$assets"
vendor=src/llmaas/console/static/vendor
mkdir -p "$vendor"
cp "$assets/node_modules/htmx.org/dist/htmx.min.js" "$vendor/"
cp "$assets/node_modules/uplot/dist/uPlot.iife.min.js" "$assets/node_modules/uplot/dist/uPlot.min.css" "$vendor/"
cp "$assets/node_modules/uplot/LICENSE" "$vendor/uPlot.LICENSE"
cp "$assets/node_modules/htmx.org/LICENSE" "$vendor/htmx.LICENSE"
[ "${1:-}" = test ] && install tests/console/oidc
exit 0
