#!/usr/bin/env bash
# Runs one fuzz target of crates/fuzz under AFL++ (cargo-afl, which works on
# the stable toolchain) for a bounded time, then prints what it saw.
#
#   scripts/fuzz.sh TARGET [SECONDS]   fuzz TARGET for SECONDS (default 300)
#   scripts/fuzz.sh --list             the targets
#
# Installs cargo-afl with cargo when it is missing and builds AFL++ for the
# toolchain in use (once). Seeds come from crates/fuzz/corpus/TARGET (and
# crates/fuzz/dict/TARGET.dict if there is one); AFL++'s state goes to
# target/fuzz/TARGET, so a second run goes on where the first stopped.
# A crash is in target/fuzz/TARGET/default/crashes/; replay one with
#   target/afl/release/chatroom-fuzz-afl TARGET < FILE
# and, once fixed, copy it into the corpus so `cargo test` replays it.
# Exits 1 if AFL++ saved a crash or a hang.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

targets=$(sed -n 's/^ *("\([a-z_]*\)", [a-z_]*),$/\1/p' crates/fuzz/src/lib.rs)
if [ "${1:-}" = "--list" ]; then
  echo "$targets"
  exit 0
fi
name=${1:?usage: scripts/fuzz.sh TARGET [SECONDS] (scripts/fuzz.sh --list for targets)}
secs=${2:-300}
if ! grep -qx "$name" <<<"$targets"; then
  echo "unknown target $name; one of:" $targets >&2
  exit 2
fi

if ! cargo afl --version >/dev/null 2>&1; then
  echo "installing cargo-afl"
  cargo install cargo-afl --version 0.18.2 --locked
fi
# Builds AFL++ for this toolchain; says so (and fails) when it already is.
if ! out=$(cargo afl config --build 2>&1) && ! grep -q "already built" <<<"$out"; then
  echo "$out" >&2
  exit 1
fi

export CARGO_TARGET_DIR="$root/target/afl"
(cd crates/fuzz/afl && cargo afl build --release --locked --quiet)
bin="$CARGO_TARGET_DIR/release/chatroom-fuzz-afl"

out_dir="$root/target/fuzz/$name"
mkdir -p "$out_dir"
dict=()
[ -f "crates/fuzz/dict/$name.dict" ] && dict=(-x "crates/fuzz/dict/$name.dict")
# No UI (a log instead); a core_pattern that pipes to a crash reporter only
# delays crash detection here; resume the previous run's state.
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_AUTORESUME=1
echo "fuzzing $name for ${secs}s (log: $out_dir/afl.log)"
cargo afl fuzz -V "$secs" -i "crates/fuzz/corpus/$name" -o "$out_dir" "${dict[@]}" \
  -- "$bin" "$name" >"$out_dir/afl.log" 2>&1 || {
  tail -n 30 "$out_dir/afl.log" >&2
  exit 1
}

stats="$out_dir/default/fuzzer_stats"
field() { sed -n "s/^$1 *: *//p" "$stats"; }
echo "$name: $(field execs_done) executions ($(field execs_per_sec)/s)," \
  "corpus $(field corpus_count), edges $(field edges_found) of $(field total_edges)" \
  "($(field bitmap_cvg)), crashes $(field saved_crashes), hangs $(field saved_hangs)"
if [ "$(field saved_crashes)" != 0 ] || [ "$(field saved_hangs)" != 0 ]; then
  ls "$out_dir/default/crashes" "$out_dir/default/hangs" 2>/dev/null
  exit 1
fi
