#!/bin/sh
# Debian packages the platform needs: a C++ toolchain to build llama.cpp ("build"); for the tests,
# espeak-ng to speak test audio and redis-server for limits shared by replicas ("test").
# Installs only what is missing.
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
[ -z "$missing" ] && exit 0
echo "Installing Debian packages:$missing"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
