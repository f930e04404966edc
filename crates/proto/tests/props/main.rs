//! Property tests of the protocol crate's codecs: what must hold for every
//! input, not just the examples the unit tests pick (round trips, no panic
//! on any bytes, the same frames whatever the chunking, renderers never
//! writing a line a peer would split differently). Failures shrink to a
//! smallest input; proptest keeps them in `proptest-regressions/`.
//!
//! Case counts are modest so `cargo test` stays quick; `PROPTEST_CASES`
//! raises them (e.g. `PROPTEST_CASES=20000 cargo test -p chatroom-proto
//! --test props`). These tests must not use the network or the clock's
//! value (rendered times are only checked for shape).

mod framing;
mod irc_message;
mod lenheader;
mod nickhs;
mod render;
mod websocket;

use proptest::prelude::ProptestConfig;

/// `default_cases` cases, unless `PROPTEST_CASES` says otherwise.
pub fn config(default_cases: u32) -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = default_cases;
    }
    c
}

/// Cuts `bytes` at `cuts` (positions taken modulo its length, in any
/// order): the reads a socket might have delivered it in.
pub fn chunks<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|c| {
            if bytes.is_empty() {
                0
            } else {
                c % (bytes.len() + 1)
            }
        })
        .collect();
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}
