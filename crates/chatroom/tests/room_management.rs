//! Room management from the line protocol (`/mode`, `/kick`, `/invite`)
//! against the real binary: the hub's rules hold whichever protocol a
//! room operator or a member uses.

mod common;

use common::irc::Irc;
use common::{LineClient, TestServer};

fn server() -> TestServer {
    TestServer::start(&["--flood-rate", "0"])
}

#[test]
fn a_line_operator_moderates_voices_and_kicks_an_irc_user() {
    let srv = server();
    // alice is first in #lobby, so she is its operator.
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    let mut bob = Irc::login(srv.irc.expect("irc"), "bob");
    alice.expect("* bob joined #lobby");
    alice.send("/mode");
    alice.expect("Modes of #lobby: +nt");
    // A nickname names one's own user modes, never the room's.
    alice.send("/mode alice +i");
    alice.expect("* your modes changed: +i");
    alice.send("/mode alice");
    alice.expect("Your modes: +i");
    alice.send("/mode #lobby");
    alice.expect("Modes of #lobby: +nt");
    alice.send("/mode +m");
    alice.expect("* alice sets mode +m on #lobby");
    bob.expect(":alice!alice@127.0.0.1 MODE #lobby +m");
    bob.send("PRIVMSG #lobby :can I talk?");
    bob.numeric("404");
    alice.send("/mode +v bob");
    bob.expect(":alice!alice@127.0.0.1 MODE #lobby +v bob");
    bob.send("PRIVMSG #lobby :now I can");
    alice.expect("<bob> now I can");
    // A mode bob may not set, refused in his protocol's words.
    bob.send("MODE #lobby -m");
    bob.numeric("482");
    alice.send("/kick bob enough");
    bob.expect(":alice!alice@127.0.0.1 KICK #lobby bob :enough");
    alice.expect("* bob was removed from #lobby by alice (enough)");
}

#[test]
fn an_irc_operator_kicks_and_bans_a_line_user() {
    let srv = server();
    let mut op = Irc::login(srv.irc.expect("irc"), "op");
    op.join("#den");
    let mut carol = LineClient::line_login(srv.line.expect("line"), "carol");
    carol.send("/join #den");
    carol.expect("you are now talking in #den");
    op.send("MODE #den +b carol");
    op.expect("MODE #den +b carol!*@*");
    carol.send("can I still talk?");
    carol.expect("! you cannot send to #den: you are banned (+b)");
    op.send("KICK #den carol :out");
    carol.expect("* you were removed from #den by op (out)");
    // Her lines now go to the room she was in before.
    carol.expect("you are now talking in #lobby");
    carol.send("/join #den");
    carol.expect("! you are banned from #den");
    // Not an operator: the line user is told why.
    carol.send("/kick op");
    carol.expect("! you are not an operator of #lobby");
}

#[test]
fn line_invite_lets_someone_into_an_invite_only_room() {
    let srv = server();
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    alice.send("/join #club");
    alice.expect("you are now talking in #club");
    alice.send("/mode +i");
    alice.expect("* alice sets mode +i on #club");
    let mut bob = Irc::login(srv.irc.expect("irc"), "bob");
    bob.send("JOIN #club");
    bob.numeric("473");
    alice.send("/invite bob");
    alice.expect("* you invited bob to #club");
    bob.expect(":alice!alice@127.0.0.1 INVITE bob #club");
    bob.join("#club");
    alice.expect("* bob joined #club");
}

#[test]
fn a_line_user_becomes_a_server_operator_with_oper() {
    let dir = std::env::temp_dir().join(format!("chatroom-oper-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let conf = dir.join("config.toml");
    std::fs::write(
        &conf,
        format!(
            "[[opers]]\nname = \"admin\"\npassword_hash = \"{}\"\n",
            common::hash_password("correct horse")
        ),
    )
    .expect("config");
    let srv = TestServer::start(&[
        "--flood-rate",
        "0",
        "--config",
        conf.to_str().expect("utf-8"),
    ]);
    let mut alice = LineClient::line_login(srv.line.expect("line"), "alice");
    let mut bob = Irc::login(srv.irc.expect("irc"), "bob");
    alice.send("/oper admin");
    alice.expect("! usage: /oper NAME PASSWORD");
    alice.send("/oper nobody correct horse");
    alice.expect("! no operator login is configured for you");
    alice.send("/oper admin wrong horse");
    alice.expect("! wrong operator name or password");
    bob.send("WHOIS alice");
    bob.expect_none(" 313 ", "before-oper");
    alice.send("/oper admin correct horse");
    alice.expect("* you are now a server operator");
    // Every protocol sees the same operator.
    bob.send("WHOIS alice");
    bob.numeric("313");
    let _ = std::fs::remove_dir_all(&dir);
}
