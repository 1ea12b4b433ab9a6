#!/bin/sh
# Debian packages the platform needs: a C++ toolchain to build llama.cpp and Node's npm for the
# console's assets ("build"); for the tests
# ("test"): espeak-ng to speak test audio, redis-server for limits shared by replicas, PostgreSQL,
# which the tests start themselves, and what checks deploy/ offline: Go with Debian's sprig and yaml
# libraries to render the Helm chart (helm itself is not packaged), docker-compose to validate the
# compose file, openssl's s_client to try a TLS 1.2 handshake on the gateway, and Chromium, which
# the console's tests drive (Playwright with Debian's browser; no browser is downloaded). Installs only what
# is missing.
set -eu
case "${1:-build}" in
  build) wanted="cmake:cmake ninja:ninja-build g++:g++ node:nodejs npm:npm" ;;
  test) wanted="espeak-ng:espeak-ng redis-server:redis-server go:golang-go openssl:openssl chromium:chromium" ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac
missing=""
for pair in $wanted; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
lean=""  # installed without their recommends: docker-compose would bring a whole Docker engine
if [ "${1:-build}" = test ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"  # off PATH
  gocode=/usr/share/gocode/src/github.com
  [ -d "$gocode/Masterminds/sprig" ] || missing="$missing golang-github-masterminds-sprig-dev"
  [ -d "$gocode/ghodss/yaml" ] || missing="$missing golang-github-ghodss-yaml-dev"
  command -v docker-compose >/dev/null 2>&1 || lean="docker-compose"
fi
[ -z "$missing$lean" ] && exit 0
echo "Installing Debian packages:$missing $lean"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
[ -z "$missing" ] || $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
[ -z "$lean" ] || $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $lean >/dev/null
