#!/bin/sh
# Debian packages the platform needs: a C++ toolchain to build llama.cpp ("build"); for the tests,
# espeak-ng to speak test audio, redis-server for limits shared by replicas, and PostgreSQL, which
# the tests start themselves ("test"). Installs only what is missing.
set -eu
case "${1:-build}" in
  build) wanted="cmake:cmake ninja:ninja-build g++:g++" ;;
  test) wanted="espeak-ng:espeak-ng redis-server:redis-server" ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac
missing=""
for pair in $wanted; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
if [ "${1:-build}" = test ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing="$missing postgresql"  # its server binaries live off PATH
fi
[ -z "$missing" ] && exit 0
echo "Installing Debian packages:$missing"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
