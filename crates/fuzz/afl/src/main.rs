//! The AFL++ harness: `chatroom-fuzz-afl TARGET` runs the fuzz target of
//! that name (see `chatroom_fuzz::TARGETS`) on the inputs AFL++ feeds it,
//! in persistent mode. Run outside AFL++, it reads one input from standard
//! input, which replays a crash: `chatroom-fuzz-afl TARGET < crash-file`.
//! Nothing here but the dispatch: the targets live in `chatroom-fuzz`.

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(target) = chatroom_fuzz::target(&name) else {
        let names: Vec<&str> = chatroom_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
        eprintln!("usage: chatroom-fuzz-afl TARGET (one of {})", names.join(", "));
        std::process::exit(2);
    };
    afl::fuzz!(|data: &[u8]| {
        target(data);
    });
}
