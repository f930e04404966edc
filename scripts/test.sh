#!/usr/bin/env bash
# Runs the whole test suite. The tests use real programs (weechat-headless,
# irssi and tmux for the IRC client tests, python3 for the tutorial client
# programs, Node.js and Chromium for the web app, iproute2 for the network
# namespaces of the LAN discovery test, nats-server with JetStream for the
# cluster tests, which fail rather than skip without it; systemd-analyze
# checks the systemd unit where it is installed); this installs the missing
# ones from Debian's packages first.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for cmd in weechat-headless irssi tmux python3 node npm ip nats-server; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=()
  for cmd in "${missing[@]}"; do
    case "$cmd" in
      python3) pkgs+=(python3) ;;
      node) pkgs+=(nodejs) ;;
      ip) pkgs+=(iproute2) ;;
      *) pkgs+=("$cmd") ;;
    esac
  done
  echo "installing test dependencies: ${pkgs[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

# The public IRC parser test vectors (ircdocs/parser-tests, CC0 1.0), as
# the PyPI package irc-parser-tests ships them. Fetched once into a cache
# directory with pip, checked against a pinned digest, unpacked with
# python3's zipfile. crates/chatroom/tests/irc_parser_vectors.rs reads them and, because
# CHATROOM_REQUIRE_VECTORS is set here, fails if they are missing.
vectors_version=0.0.4
vectors_sha256=a6cbe04063723a6fcf9a117b5e62d0e0bd492f35b2889354574404c1c47f4470
vectors_cache="${CHATROOM_VECTORS_CACHE:-$PWD/target/irc-parser-tests}"
export CHATROOM_PARSER_VECTORS="$vectors_cache/parser_tests/data"
export CHATROOM_REQUIRE_VECTORS=1
if [ ! -f "$CHATROOM_PARSER_VECTORS/msg-split.yaml" ]; then
  echo "fetching irc-parser-tests $vectors_version into $vectors_cache"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-pip >/dev/null
  fi
  mkdir -p "$vectors_cache/download"
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    -d "$vectors_cache/download" "irc-parser-tests==$vectors_version"
  wheel="$vectors_cache/download/irc_parser_tests-$vectors_version-py3-none-any.whl"
  echo "$vectors_sha256  $wheel" | sha256sum -c --quiet -
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
    "$wheel" "$vectors_cache"
fi

# The layers: no crate depends on one above it, no pure crate on I/O.
./scripts/check-layers.sh

cargo test --locked --workspace "$@"

# The web app in a real browser: Debian's Chromium driven by playwright-core
# (both installed by tests/browser/run.sh when missing: apt and `npm ci`
# from the committed lock file) against the debug binary the tests above
# built, on loopback.
./tests/browser/run.sh

# The external IRC conformance suite irctest against the debug binary: the
# current suite from ../shared/irctest when it is there (the usual selection
# and the services one, about two minutes together), else the 0.1.2 release
# from PyPI (about 15 seconds); fails on a regression against the committed
# expected-pass lists in scripts/irctest/.
./scripts/irctest.sh
