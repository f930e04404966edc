//! Three real chatroom nodes and one real `nats-server` on loopback: people
//! on different nodes meet in the same rooms, in order, over the line
//! protocol and IRC; what they do (JOIN, PART, NICK, TOPIC, MODE, AWAY,
//! KICK, QUIT) reaches the others; NAMES, WHO, WHOIS, LIST, LUSERS and
//! MONITOR answer for the whole cluster. `nats-server` missing is a
//! failure, not a skip (scripts/test.sh installs it).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::irc::Irc;
use common::nats::Nats;
use common::{LineClient, TestServer, WAIT};

/// IRC login on a node; waits until in #lobby.
fn irc(node: &TestServer, nick: &str) -> Irc {
    let mut c = Irc::negotiate(node.irc.expect("irc"), nick, "");
    c.expect(&format!(" 366 {nick} #lobby "));
    c
}

/// Asks NAMES `room` until the list holds every one of `nicks` (a node
/// learns of a newcomer elsewhere once that node published it).
fn until_names(c: &mut Irc, room: &str, nicks: &[&str]) -> String {
    let deadline = Instant::now() + WAIT;
    let end = format!(" 366 {} {room} ", c.nick);
    loop {
        c.send(&format!("NAMES {room}"));
        let mut names = Vec::new();
        loop {
            let line = c.wait_for("NAMES", |l| l.contains(" 353 ") || l.contains(&end));
            if line.contains(&end) {
                break;
            }
            names.push(line);
        }
        let all = names.join(" ");
        let held: Vec<&str> = names
            .iter()
            .flat_map(|l| l.rsplit(':').next().unwrap_or("").split_whitespace())
            .map(|n| n.trim_start_matches(['@', '+']))
            .collect();
        if nicks.iter().all(|n| held.contains(n)) {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "NAMES {room} never held {nicks:?}: {all}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn three(nats: &Nats) -> (TestServer, TestServer, TestServer) {
    let flood = ["--flood-rate", "0"];
    (
        nats.node("a", &flood),
        nats.node("b", &flood),
        nats.node("c", &flood),
    )
}

#[test]
fn people_on_three_nodes_chat_in_order_over_line_and_irc() {
    let nats = Nats::start();
    let (a, b, c) = three(&nats);
    let mut alice = LineClient::line_login(a.line.expect("line"), "alice");
    let mut bob = irc(&b, "bob");
    let mut carol = irc(&c, "carol");
    until_names(&mut carol, "#lobby", &["alice", "bob", "carol"]);
    until_names(&mut bob, "#lobby", &["alice", "bob", "carol"]);
    alice.expect("* carol joined #lobby");
    const N: usize = 60;
    for i in 0..N {
        alice.send(&format!("a-{i}"));
        bob.send(&format!("PRIVMSG #lobby :b-{i}"));
    }
    // Everyone sees each sender's lines, all of them, in the order sent.
    let mut next = (0, 0);
    while next != (N, N) {
        let line = carol.wait_for("a line from alice or bob", |l| {
            l.contains(" PRIVMSG #lobby :")
        });
        let text = line.rsplit(':').next().unwrap_or("");
        if let Some(n) = text.strip_prefix("a-") {
            assert!(line.starts_with(":alice!"), "{line}");
            assert_eq!(n.parse::<usize>().ok(), Some(next.0), "{line}");
            next.0 += 1;
        } else if let Some(n) = text.strip_prefix("b-") {
            assert_eq!(n.parse::<usize>().ok(), Some(next.1), "{line}");
            next.1 += 1;
        } else {
            panic!("unexpected {line}");
        }
    }
    for i in 0..N {
        bob.expect(&format!(":alice!alice@127.0.0.1 PRIVMSG #lobby :a-{i}"));
        alice.expect(&format!("<bob> b-{i}"));
    }
    // A private message to someone on another node, and the answer.
    alice.send("/msg carol psst");
    carol.expect(":alice!alice@127.0.0.1 PRIVMSG carol :psst");
    carol.send("PRIVMSG alice :yes?");
    alice.expect("yes?");
}

#[test]
fn queries_answer_for_the_whole_cluster() {
    let nats = Nats::start();
    let (a, b, c) = three(&nats);
    let mut alice = irc(&a, "alice");
    let mut bob = irc(&b, "bob");
    let mut carol = irc(&c, "carol");
    bob.send("AWAY :at lunch");
    bob.numeric("306");
    alice.join("#rust");
    until_names(&mut carol, "#lobby", &["alice", "bob", "carol"]);
    until_names(&mut carol, "#rust", &["alice"]);
    // WHOIS of someone on another node.
    carol.send("WHOIS bob");
    let whois = carol.numeric("311");
    assert!(whois.contains(" bob bob 127.0.0.1 "), "{whois}");
    let away = carol.numeric("301");
    assert!(away.ends_with(":at lunch"), "{away}");
    carol.numeric("318");
    // WHO of a room: everyone, wherever they are connected.
    carol.send("WHO #lobby");
    let mut who = Vec::new();
    for _ in 0..3 {
        who.push(carol.numeric("352"));
    }
    carol.numeric("315");
    for nick in ["alice", "bob", "carol"] {
        assert!(
            who.iter()
                .any(|l| l.contains(&format!(" {nick} H")) || l.contains(&format!(" {nick} G"))),
            "{nick} in {who:#?}"
        );
    }
    // LUSERS counts the cluster's people.
    carol.send("LUSERS");
    let users = carol.numeric("251");
    assert!(users.contains("There are 3 users"), "{users}");
    // LIST shows a room nobody on this node is in.
    carol.send("LIST");
    let rust = carol.wait_for("#rust in LIST", |l| l.contains(" 322 carol #rust "));
    assert!(rust.contains(" #rust 1 "), "{rust}");
    carol.numeric("323");
    // MONITOR sees someone arrive and leave on another node.
    carol.send("MONITOR + dave");
    carol.numeric("731");
    let mut dave = irc(&b, "dave");
    carol.numeric("730");
    dave.send("QUIT :bye");
    carol.numeric("731");
}

#[test]
fn what_people_do_reaches_every_node() {
    let nats = Nats::start();
    let (a, b, c) = three(&nats);
    let mut alice = irc(&a, "alice");
    let mut bob = irc(&b, "bob");
    let mut carol = irc(&c, "carol");
    alice.join("#ops");
    until_names(&mut bob, "#ops", &["alice"]);
    bob.join("#ops");
    carol.join("#ops");
    until_names(&mut alice, "#ops", &["alice", "bob", "carol"]);
    until_names(&mut bob, "#ops", &["alice", "bob", "carol"]);
    // A JOIN seen across nodes.
    let mut dave = irc(&c, "dave");
    dave.join("#ops");
    alice.expect(":dave!dave@127.0.0.1 JOIN #ops");
    // TOPIC by the room's operator (alice, its first member).
    alice.send("TOPIC #ops :cluster business");
    carol.expect(":alice!alice@127.0.0.1 TOPIC #ops :cluster business");
    bob.expect(":alice!alice@127.0.0.1 TOPIC #ops :cluster business");
    // MODE: alice gives bob voice, then operator status.
    alice.send("MODE #ops +v bob");
    carol.expect(":alice!alice@127.0.0.1 MODE #ops +v bob");
    alice.send("MODE #ops +o bob");
    carol.expect(":alice!alice@127.0.0.1 MODE #ops +o bob");
    // bob, an operator now (once his own node has heard it), kicks carol
    // from node b.
    bob.expect(":alice!alice@127.0.0.1 MODE #ops +o bob");
    bob.send("KICK #ops carol :out");
    carol.expect(":bob!bob@127.0.0.1 KICK #ops carol :out");
    alice.expect(":bob!bob@127.0.0.1 KICK #ops carol :out");
    // NICK on node c is seen on a.
    carol.send("NICK carla");
    alice.expect(":carol!carol@127.0.0.1 NICK :carla");
    // AWAY reaches those with away-notify; WHOIS shows it anywhere.
    bob.send("AWAY :brb");
    bob.numeric("306");
    let deadline = Instant::now() + WAIT;
    loop {
        alice.send("WHOIS bob");
        let lines = alice.sync("whois-bob");
        if lines.iter().any(|l| l.contains(" 301 alice bob :brb")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bob's away never reached a: {lines:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // PART and QUIT.
    bob.send("PART #ops :later");
    alice.expect(":bob!bob@127.0.0.1 PART #ops :later");
    bob.send("QUIT :gone");
    alice.expect(":bob!bob@127.0.0.1 QUIT :Quit: gone");
    carol.expect(":bob!bob@127.0.0.1 QUIT :Quit: gone");
}

/// A raw client of the NICK tutorial dialect: whatever bytes arrive.
struct Nick {
    stream: TcpStream,
    got: String,
}

impl Nick {
    fn login(addr: SocketAddr, nick: &str) -> Nick {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let mut c = Nick {
            stream,
            got: String::new(),
        };
        c.expect("NICK");
        c.stream.write_all(nick.as_bytes()).expect("send");
        c.expect("Connected to server!");
        c
    }

    fn expect(&mut self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.got.contains(needle) {
            assert!(
                Instant::now() < deadline,
                "never got {needle:?}: {:?}",
                self.got
            );
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("closed before {needle:?}: {:?}", self.got),
                Ok(n) => self.got.push_str(&String::from_utf8_lossy(&chunk[..n])),
                Err(_) => {}
            }
        }
        let at = self.got.find(needle).unwrap_or(0) + needle.len();
        self.got.drain(..at);
    }
}

/// IRC over WebSocket (`/irc` on the web listener), one line a message.
struct Ws {
    ws: tokio_tungstenite::tungstenite::WebSocket<TcpStream>,
}

impl Ws {
    fn login(addr: SocketAddr, nick: &str) -> Ws {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let req = format!("ws://{addr}/irc")
            .into_client_request()
            .expect("request");
        let sock = TcpStream::connect(addr).expect("connect");
        sock.set_read_timeout(Some(WAIT)).expect("timeout");
        let (ws, _) = tokio_tungstenite::tungstenite::client::client(req, sock)
            .unwrap_or_else(|_| panic!("websocket handshake"));
        ws.get_ref()
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let mut c = Ws { ws };
        c.send(&format!("NICK {nick}"));
        c.send(&format!("USER {nick} 0 * :{nick}"));
        c.expect(&format!(" 366 {nick} #lobby "));
        c
    }

    fn send(&mut self, line: &str) {
        self.ws
            .send(tokio_tungstenite::tungstenite::Message::text(line))
            .expect("send");
    }

    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "never got {needle:?}");
            match self.ws.read() {
                Ok(m) => {
                    let text = m.into_text().map(|t| t.to_string()).unwrap_or_default();
                    if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                        return line.to_string();
                    }
                }
                Err(tokio_tungstenite::tungstenite::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("websocket: {e}"),
            }
        }
    }
}

#[test]
fn every_protocol_works_on_every_node() {
    let nats = Nats::start();
    let flood = ["--flood-rate", "0"];
    let a = nats.node("a", &["--flood-rate", "0", "--nick-dialect"]);
    let b = nats.node("b", &flood);
    let c = nats.node("c", &flood);
    let mut irene = irc(&b, "irene");
    let mut lina = LineClient::line_login(c.line.expect("line"), "lina");
    let mut nico = Nick::login(a.nick.expect("nick dialect"), "nico");
    let mut wendy = Ws::login(c.web.expect("web"), "wendy");
    until_names(&mut irene, "#lobby", &["irene", "lina", "nico", "wendy"]);
    // From the tutorial dialect on a to IRC on b, the line protocol and
    // WebSocket on c.
    nico.stream.write_all(b"hello from nico").expect("send");
    irene.expect(":nico!");
    lina.expect("<nico> hello from nico");
    wendy.expect(" PRIVMSG #lobby :hello from nico");
    // And back to the dialect from each of them.
    irene.send("PRIVMSG #lobby :hi nico");
    nico.expect("hi nico");
    lina.send("hey nico");
    nico.expect("hey nico");
    wendy.send("PRIVMSG #lobby :yo nico");
    nico.expect("yo nico");
    lina.expect("<wendy> yo nico");
}

#[test]
fn a_node_started_later_learns_who_is_where_and_the_rooms_state() {
    let nats = Nats::start();
    let a = nats.node("a", &["--flood-rate", "0"]);
    let mut alice = irc(&a, "alice");
    alice.join("#ops");
    alice.send("TOPIC #ops :set before c existed");
    alice.expect(" TOPIC #ops :set before c existed");
    alice.send("MODE #ops +im");
    alice.expect(" MODE #ops +im");
    alice.send("MODE #ops +b *!*@10.9.9.9");
    alice.expect(" MODE #ops +b *!*@10.9.9.9");
    let c = nats.node("c", &["--flood-rate", "0"]);
    let mut carol = irc(&c, "carol");
    let names = until_names(&mut carol, "#ops", &["alice"]);
    assert!(names.contains("@alice"), "{names}");
    carol.send("TOPIC #ops");
    let topic = carol.numeric("332");
    assert!(topic.ends_with(":set before c existed"), "{topic}");
    carol.send("MODE #ops");
    let modes = carol.numeric("324");
    let letters = modes.split(" #ops ").nth(1).unwrap_or("");
    assert!(letters.contains('i') && letters.contains('m'), "{modes}");
    carol.send("MODE #ops +b");
    let ban = carol.numeric("367");
    assert!(ban.contains("*!*@10.9.9.9"), "{ban}");
    // +i holds on c too: carol, not invited, is refused.
    carol.send("JOIN #ops");
    carol.numeric("473");
}
