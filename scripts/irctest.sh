#!/usr/bin/env bash
# Runs the external IRC conformance suite irctest (PyPI release 0.1.2, the
# one on the package registry) against chatroom, and fails if a test in
# scripts/irctest/expected-pass.txt does not pass. See docs/irc.md,
# "External conformance suite (irctest)".
#
#   scripts/irctest.sh            chatroom only (what scripts/test.sh runs)
#   scripts/irctest.sh --peers    also ngircd and InspIRCd (Debian packages),
#                                 for the comparison table in docs/irc.md
#
# Needs target/debug/chatroom (built here with cargo) or CHATROOM_BIN.
# Results go to target/irctest/results-<server>.txt, one "test outcome"
# line per test.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cache="${CHATROOM_IRCTEST_CACHE:-target/irctest}"
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
apt_install() {
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || apt_install python3-venv python3-pip

# irctest 0.1.2 is published only as a source archive whose setup.py reads
# a requirements.txt the archive lacks, so pip cannot install (or even
# download) it the usual way. pip still finds it on the configured index:
# its link is taken from pip's own verbose output, the archive is fetched
# and checked against the pinned digest, and it is used unpacked (the
# tests are plain Python files; nothing in it needs building).
irctest_version=0.1.2
irctest_sha256=bc37d4e9e0ad926be039431d029e23b1d93813d75df8ed49be144a639c8dfd37
irctest_dir="$cache/irctest-$irctest_version"
if [ ! -f "$irctest_dir/irctest/server_tests/__init__.py" ]; then
  echo "fetching irctest $irctest_version into $cache"
  link=$(python3 -m pip download --no-deps --no-binary :all: -d "$cache/pipdl" -vvv \
           "irctest==$irctest_version" 2>&1 \
         | grep -o "Found link https://[^ ]*/irctest-$irctest_version\.tar\.gz" | head -1 \
         | sed 's/^Found link //') || true
  if [ -z "$link" ]; then
    echo "irctest.sh: pip did not find irctest $irctest_version on the index" >&2
    exit 1
  fi
  python3 - "$link" "$cache/irctest-$irctest_version.tar.gz" <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=120) as r, open(sys.argv[2], 'wb') as f:
    f.write(r.read())
PY
  echo "$irctest_sha256  $cache/irctest-$irctest_version.tar.gz" | sha256sum -c --quiet -
  tar -xzf "$cache/irctest-$irctest_version.tar.gz" -C "$cache"
fi

# What irctest imports: supybot.utils (from Limnoria) and psutil, pinned
# with their digests in a virtual environment of their own.
venv="$cache/venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import supybot.utils, psutil' 2>/dev/null; then
  echo "installing irctest's dependencies into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --require-hashes -r scripts/irctest/requirements.txt
fi

servers=(chatroom)
if [ "${1:-}" = "--peers" ]; then
  servers+=(ngircd inspircd)
  command -v ngircd >/dev/null && command -v inspircd >/dev/null || apt_install ngircd inspircd
fi

if [ -z "${CHATROOM_BIN:-}" ]; then
  cargo build --locked --quiet
  export CHATROOM_BIN="$root/target/debug/chatroom"
fi
export PYTHONPATH="$irctest_dir:$root/scripts/irctest" PYTHONDONTWRITEBYTECODE=1

for server in "${servers[@]}"; do
  "$venv/bin/python" scripts/irctest/run.py "chatroom_irctest.$server" \
    --out "$cache/results-$server.txt" 2>"$cache/log-$server.txt" || true
done

# Regressions: every test listed as expected to pass must pass.
status=0
while read -r test; do
  case "$test" in ''|'#'*) continue ;; esac
  got=$(awk -v t="$test" '$1 == t { print $2 }' "$cache/results-chatroom.txt")
  if [ "$got" != "pass" ]; then
    echo "irctest regression: $test: ${got:-missing} (details in $cache/log-chatroom.txt)" >&2
    status=1
  fi
done < scripts/irctest/expected-pass.txt
# Tests that pass but are not listed: worth adding to the list.
awk '$2 == "pass" { print $1 }' "$cache/results-chatroom.txt" | while read -r test; do
  grep -qxE "(#racy )?$test" scripts/irctest/expected-pass.txt || echo "irctest: also passing (not in expected-pass.txt): $test"
done
exit $status
