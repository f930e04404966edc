#!/usr/bin/env bash
# The layers as the dependency graph must keep them (docs/architecture.md):
# each crate may depend only on the project crates below it, and the pure
# layers on no I/O crate at all. Cargo already refuses cycles between
# crates; this refuses a wrong arrow that would still compile (a new
# dependency on a crate from a layer above, or on an I/O crate).
set -euo pipefail
cd "$(dirname "$0")/.."

# I/O and terminal crates no pure layer may pull in, even indirectly.
io='^(tokio|mio|rusqlite|libsqlite3-sys|rustls|tokio-rustls|tungstenite|tokio-tungstenite|socket2|crossterm|ratatui|hyper|axum|async-nats)$'

fail=0
deps() { # the normal dependencies of crate $1 (direct only with $2=1), names only
  cargo tree --locked -p "$1" -e normal ${2:+--depth "$2"} --prefix none --format '{p}' |
    awk '{print $1}' | sort -u
}
check() { # crate, allowed project crates (regex), whether I/O crates are refused
  local crate=$1 allowed=$2 pure=$3
  local dep direct all
  direct=$(deps "$crate" 1) || { echo "layers: cargo tree failed for $crate" >&2; exit 1; }
  all=$(deps "$crate") || { echo "layers: cargo tree failed for $crate" >&2; exit 1; }
  while read -r dep; do
    if [ "$dep" != "$crate" ] && [[ "$dep" == chatroom* ]] && ! [[ "$dep" =~ ^($allowed)$ ]]; then
      echo "layers: $crate must not depend on $dep" >&2
      fail=1
    fi
  done <<<"$direct"
  if [ "$pure" = pure ]; then
    while read -r dep; do
      if [[ "$dep" =~ $io ]]; then
        echo "layers: $crate is pure and must not depend on $dep, even indirectly" >&2
        fail=1
      fi
    done <<<"$all"
  fi
}

check chatroom-core   'chatroom-core' pure
check chatroom-config 'chatroom-core' pure
check chatroom-proto  'chatroom-core|chatroom-config' pure
check chatroom-store  'chatroom-core' io
check chatroom-server 'chatroom-core|chatroom-config|chatroom-proto|chatroom-store|chatroom-web' io
check chatroom-client 'chatroom-core|chatroom-config|chatroom-proto' io
check chatroom-bench  'chatroom-core|chatroom-proto' io
check chatroom-web    '' pure
check chatroom-cluster 'chatroom-core|chatroom-config|chatroom-server|chatroom-store' io
[ $fail -eq 0 ] && echo "layers: every crate depends only on the layers below it"
exit $fail
