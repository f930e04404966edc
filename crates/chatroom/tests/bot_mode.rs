//! IRCv3 bot mode against the real server binary: `BOT=B` in ISUPPORT,
//! `MODE nick +B`, the `bot` tag on a bot's messages for clients with
//! message-tags (and not for others), `B` in WHO and 335 in WHOIS. Raw
//! sockets on loopback only.

mod common;

use common::TestServer;
use common::irc::Irc;

#[test]
fn a_bot_says_so_and_everyone_can_tell() {
    let srv = TestServer::start(&["--flood-rate", "0", "--no-tls"]);
    let addr = srv.irc.expect("irc listener");
    let mut beep = Irc::negotiate(addr, "beep", "");
    let isupport = beep.sync("beep-registered").join("\n");
    assert!(isupport.contains(" BOT=B "), "{isupport}");
    beep.send("MODE beep +B");
    beep.expect(":beep!beep@127.0.0.1 MODE beep +B");
    let mut tagged = Irc::negotiate(addr, "tagged", "message-tags");
    tagged.expect(" 366 tagged #lobby ");
    let mut plain = Irc::negotiate(addr, "plain", "");
    plain.expect(" 366 plain #lobby ");

    beep.send("PRIVMSG #lobby :boop");
    let line = tagged.expect(" PRIVMSG #lobby :boop");
    let tags = line.split(' ').next().unwrap_or("");
    assert!(
        tags.starts_with('@') && tags[1..].split(';').any(|t| t == "bot"),
        "{line}"
    );
    let line = plain.expect(" PRIVMSG #lobby :boop");
    assert!(line.starts_with(":beep!"), "{line}");

    plain.send("WHO #lobby");
    let who = plain.wait_for("beep's WHO line", |l| {
        l.contains(" 352 ") && l.contains(" beep ")
    });
    assert!(who.contains(" beep HB"), "{who}");
    plain.send("WHOIS beep");
    plain.expect(" 335 plain beep :is a bot");
    beep.send("MODE beep -B");
    beep.expect(":beep!beep@127.0.0.1 MODE beep -B");
    plain.send("WHOIS beep");
    plain.expect_none(" 335 ", "after");
    tagged.send("PING x");
    tagged.expect("PONG");
    beep.send("PRIVMSG #lobby :human now");
    let line = tagged.expect(" PRIVMSG #lobby :human now");
    assert!(!line.contains(";bot") && !line.contains("@bot"), "{line}");
}
