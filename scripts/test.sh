#!/usr/bin/env bash
# Runs the whole test suite. The tests use real programs (weechat-headless,
# irssi and tmux for the IRC client tests, python3 for the tutorial client
# programs); this installs the missing ones from Debian's packages first.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for cmd in weechat-headless irssi tmux python3; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=()
  for cmd in "${missing[@]}"; do
    case "$cmd" in
      python3) pkgs+=(python3) ;;
      *) pkgs+=("$cmd") ;;
    esac
  done
  echo "installing test dependencies: ${pkgs[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

cargo test --locked "$@"
