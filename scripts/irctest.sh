#!/usr/bin/env bash
# Runs the external IRC conformance suite irctest against chatroom, and
# fails if a test in the committed expected-pass list does not pass. See
# docs/irc.md, "External conformance suite (irctest)".
#
# The current suite is the snapshot in ../shared/irctest beside the
# repository (CHATROOM_IRCTEST_DIR overrides it): when it is there (CI,
# development) it runs with pytest, first the usual selection, then the
# tests that need services (built into chatroom), each compared with its
# list (scripts/irctest/expected-pass-current.txt,
# scripts/irctest/expected-pass-services.txt). Without it (a fresh clone
# on its own) the suite's 2017 release from PyPI, irctest 0.1.2, runs
# instead, compared with scripts/irctest/expected-pass.txt.
#
#   scripts/irctest.sh            chatroom only (what scripts/test.sh runs)
#   scripts/irctest.sh --peers    also ngIRCd and InspIRCd (Debian packages)
#                                 on the usual selection, for the comparison
#                                 table in docs/irc.md; not run in CI
#
# Needs target/debug/chatroom (built here with cargo) or CHATROOM_BIN.
# Results go to target/irctest/results-<suite>-<server>.txt, one
# "test outcome" line per test (and the reasons of those that did not pass
# in the .reasons file beside it); the servers' output and pytest's log to
# target/irctest/log-<suite>-<server>.txt.
# CHATROOM_IRCTEST_WORKERS: pytest-xdist workers (default 4: the tests mostly
# wait on sockets, so 4 take about half the time of 2 even on two cores).
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

peers=0
[ "${1:-}" = "--peers" ] && peers=1
if [ $peers -eq 1 ]; then
  command -v ngircd >/dev/null && command -v inspircd >/dev/null || apt_install ngircd inspircd
fi
command -v openssl >/dev/null || apt_install openssl

if [ -z "${CHATROOM_BIN:-}" ]; then
  cargo build --locked --quiet
  export CHATROOM_BIN="$root/target/debug/chatroom"
fi
export PYTHONDONTWRITEBYTECODE=1

# A virtual environment for one requirements file, made again when the
# file has changed since.
venv_for() {
  local venv=$1 requirements=$2
  if [ ! -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
    echo "installing $requirements into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --require-hashes -r "$requirements"
    cp "$requirements" "$venv/requirements.txt"
  fi
}

suite="${CHATROOM_IRCTEST_DIR:-$root/../shared/irctest}"
if [ -f "$suite/conftest.py" ] && [ -d "$suite/irctest/server_tests" ]; then
  suite=$(cd "$suite" && pwd)
  venv="$cache/venv-current"
  venv_for "$venv" scripts/irctest/requirements-current.txt
  export PYTHONPATH="$root/scripts/irctest:$suite"
  workers="${CHATROOM_IRCTEST_WORKERS:-4}"
  common='not Ergo and not Sable and not deprecated and not strict'
  # name|pytest -m selection|controller module|expected-pass list (-: none)
  runs=(
    "current-chatroom|$common and not services|chatroom_irctest.current|scripts/irctest/expected-pass-current.txt"
    "services-chatroom|$common and services|chatroom_irctest.current|scripts/irctest/expected-pass-services.txt"
  )
  if [ $peers -eq 1 ]; then
    runs+=(
      "current-ngircd|$common and not services|irctest.controllers.ngircd|-"
      "current-inspircd|$common and not services|chatroom_irctest.current_inspircd|-"
    )
  fi
  status=0
  for run in "${runs[@]}"; do
    IFS='|' read -r name selection controller expected <<<"$run"
    results="$cache/results-$name.txt"
    log="$cache/log-$name.txt"
    rm -f "$results" "$results.reasons"
    started=$(date +%s)
    # The suite's folder may be read-only (CI's copy is): no pytest cache,
    # no bytecode. A run is interrupted after 20 minutes whatever happens
    # (pytest still writes the outcomes it has).
    (cd "$suite" && timeout -s INT -k 60 1200 "$venv/bin/python" -m pytest \
        -p no:cacheprovider -p chatroom_irctest.outcomes --outcomes "$results" \
        --controller "$controller" -m "$selection" -n "$workers" \
        irctest/server_tests) >"$log" 2>&1 || true
    echo "irctest $name: $(( $(date +%s) - started )) s, $workers workers"
    if [ ! -s "$results" ]; then
      echo "irctest $name: no results (see $log)" >&2
      status=1
    else
      "$venv/bin/python" scripts/irctest/compare.py "$results" "$expected" "$name" "$log" \
        || status=1
    fi
  done
  exit $status
fi

echo "irctest: no current suite in $suite; running irctest 0.1.2 from PyPI instead"

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

# What irctest 0.1.2 imports: supybot.utils (from Limnoria) and psutil,
# pinned with their digests in a virtual environment of their own.
venv="$cache/venv"
venv_for "$venv" scripts/irctest/requirements.txt
export PYTHONPATH="$irctest_dir:$root/scripts/irctest"

servers=(chatroom)
[ $peers -eq 1 ] && servers+=(ngircd inspircd)
for server in "${servers[@]}"; do
  "$venv/bin/python" scripts/irctest/run.py "chatroom_irctest.$server" \
    --out "$cache/results-$server.txt" 2>"$cache/log-$server.txt" || true
done
"$venv/bin/python" scripts/irctest/compare.py "$cache/results-chatroom.txt" \
  scripts/irctest/expected-pass.txt 0.1.2-chatroom "$cache/log-chatroom.txt"
