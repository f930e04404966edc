//! IRC conformance against the real server binary: one test per behaviour
//! of RFC 1459/2812 as the Modern IRC client protocol document clarifies
//! it, each asserting the numerics and messages the specification names.
//! Raw sockets only, so every byte the server writes is checked.

mod common;

use common::irc::Irc;
use common::{LineClient, TestServer};

fn server() -> TestServer {
    TestServer::start(&["--flood-rate", "0"])
}

/// Starts a server with extra TOML configuration.
fn server_with(toml: &str) -> (TestServer, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "chatroom-conf-{}-{}",
        std::process::id(),
        toml.len() ^ (toml.as_bytes().iter().map(|&b| b as usize).sum::<usize>() << 8)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("config.toml");
    std::fs::write(&path, toml).expect("write config");
    let path_str = path.to_str().expect("utf-8 path").to_string();
    let srv = TestServer::start(&["--flood-rate", "0", "--config", &path_str]);
    (srv, dir)
}

fn irc(srv: &TestServer) -> std::net::SocketAddr {
    srv.irc.expect("irc listener")
}

/// alice creates #r (and is its operator), bob joins it.
fn room_with_two(srv: &TestServer) -> (Irc, Irc) {
    let mut alice = Irc::login(irc(srv), "alice");
    let mut bob = Irc::login(irc(srv), "bob");
    alice.join("#r");
    bob.join("#r");
    alice.expect(":bob!bob@127.0.0.1 JOIN #r");
    (alice, bob)
}

// ------------------------------------------------------------ registration

#[test]
fn registration_accepts_pass_and_user_before_nick() {
    let srv = server();
    let mut c = Irc::connect(irc(&srv), "bob");
    c.send("PASS whatever");
    // An empty real name is no real name.
    c.send("USER bob 0 * :");
    c.expect(":chatroom 461 * USER :Not enough parameters");
    c.send("USER bob 0 * :Bob B");
    c.send("NICK bob");
    c.numeric("001");
    for code in [
        "002", "003", "004", "005", "251", "252", "254", "255", "265", "266", "422",
    ] {
        c.numeric(code);
    }
    c.send("PASS again");
    c.numeric("462");
}

#[test]
fn registration_burst_is_in_order() {
    let srv = server();
    let mut c = Irc::connect(irc(&srv), "bob");
    c.send("NICK bob");
    c.send("USER bob 0 * :Bob");
    c.numeric("001");
    let mut codes = Vec::new();
    loop {
        let l = c.wait_for("a numeric", |l| l.starts_with(":chatroom "));
        let code = l.split(' ').nth(1).unwrap_or("").to_string();
        let done = code == "422";
        codes.push(code);
        if done {
            break;
        }
    }
    // 005 may be several lines; LUSERS comes before the MOTD.
    codes.dedup();
    assert_eq!(
        codes,
        vec![
            "002", "003", "004", "005", "251", "252", "254", "255", "265", "266", "422"
        ]
    );
}

#[test]
fn nick_errors_431_432_433_then_registration() {
    let srv = server();
    let _alice = Irc::login(irc(&srv), "alice");
    let mut c = Irc::connect(irc(&srv), "*");
    c.send("NICK");
    c.expect(":chatroom 431 * :No nickname given");
    c.send("NICK 9lives");
    c.expect(":chatroom 432 * 9lives :");
    c.send("NICK a.b");
    c.expect(":chatroom 432 * a.b :");
    c.send("USER x 0 * :X");
    c.send("NICK ALICE");
    c.expect(":chatroom 433 * ALICE :Nickname is already in use");
    c.send("NICK carol");
    c.expect(":chatroom 001 carol ");
}

#[test]
fn commands_before_registration_get_451() {
    let srv = server();
    let mut c = Irc::connect(irc(&srv), "*");
    for cmd in [
        "JOIN #a",
        "PRIVMSG #a :x",
        "MODE #a",
        "KICK #a b",
        "OPER a b",
        "LUSERS",
    ] {
        c.send(cmd);
        c.expect(":chatroom 451 * :You have not registered");
    }
    // PING works before registration.
    c.send("PING :x");
    c.expect("PONG chatroom :x");
}

#[test]
fn isupport_values_come_from_the_config() {
    let (srv, dir) = server_with(
        "[hub]\nnick_len = 12\nroom_len = 20\ntopic_len = 100\naway_len = 50\nkick_len = 60\nmax_modes = 4\nmax_list_entries = 7\nmax_rooms_per_member = 9\n",
    );
    let mut c = Irc::connect(irc(&srv), "bob");
    c.send("NICK bob");
    c.send("USER bob 0 * :Bob");
    let mut tokens = Vec::new();
    loop {
        let l = c.wait_for("005 or end", |l| {
            l.contains(" 005 bob ") || l.contains(" 251 bob ")
        });
        if l.contains(" 251 ") {
            break;
        }
        let params = l.split(" :").next().unwrap_or("").to_string();
        tokens.extend(params.split(' ').skip(3).map(String::from));
    }
    for want in [
        "CASEMAPPING=ascii",
        "CHANTYPES=#",
        "PREFIX=(ov)@+",
        "CHANMODES=beI,k,l,Cimnst",
        "NICKLEN=12",
        "CHANNELLEN=20",
        "TOPICLEN=100",
        "AWAYLEN=50",
        "KICKLEN=60",
        "MODES=4",
        "MAXLIST=beI:7",
        "CHANLIMIT=#:9",
        "LINELEN=512",
        "EXCEPTS=e",
        "EXTBAN=,m",
        "BOT=B",
        "INVEX=I",
        "WHOX",
        "NETWORK=chatroom",
    ] {
        assert!(tokens.iter().any(|t| t == want), "{want} not in {tokens:?}");
    }
    let targmax = tokens
        .iter()
        .find(|t| t.starts_with("TARGMAX="))
        .expect("TARGMAX");
    assert!(targmax.contains("PRIVMSG:4"), "{targmax}");
    // And the server behaves as advertised.
    c.numeric("422");
    c.send("NICK abcdefghijklm");
    c.numeric("432");
    c.send("JOIN #abcdefghijklmnopqrstu");
    c.numeric("476");
    c.join("#t");
    c.send(&format!("TOPIC #t :{}", "x".repeat(150)));
    let topic = c.expect("TOPIC #t :");
    assert_eq!(topic.split(" :").nth(1).map(str::len), Some(100), "{topic}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn motd_command_and_lusers_command() {
    let srv = server();
    let mut bob = Irc::login(irc(&srv), "bob");
    let mut carol = Irc::login(irc(&srv), "carol");
    carol.send("MODE carol +i");
    carol.expect(":carol!carol@127.0.0.1 MODE carol +i");
    bob.send("MOTD");
    bob.expect(":chatroom 422 bob :MOTD File is missing");
    bob.send("LUSERS");
    bob.expect(":chatroom 251 bob :There are 1 users and 1 invisible on 1 servers");
    bob.expect(":chatroom 252 bob 0 :");
    bob.expect(":chatroom 254 bob 1 :");
    bob.expect(":chatroom 255 bob :I have 2 clients and 0 servers");
    bob.expect(":chatroom 265 bob 2 2 :");
    bob.expect(":chatroom 266 bob 2 2 :");
}

#[test]
fn lusers_counts_unregistered_connections_in_253() {
    let srv = server();
    // Not registered, but known to the server: it answered a PING.
    let mut pending = Irc::connect(irc(&srv), "carol");
    pending.send("PING :here");
    pending.expect("PONG chatroom :here");
    let mut bob = Irc::login(irc(&srv), "bob");
    bob.send("LUSERS");
    bob.expect(":chatroom 251 bob :There are 1 users and 0 invisible on 1 servers");
    bob.expect(":chatroom 252 bob 0 :operator(s) online");
    bob.expect(":chatroom 253 bob 1 :unknown connection(s)");
    bob.expect(":chatroom 254 bob 1 :channels formed");
    // Once it registers, it is a user, not an unknown connection.
    pending.send("NICK carol");
    pending.send("USER carol 0 * :Carol");
    let burst = pending.numeric("251");
    assert!(burst.contains("There are 2 users"), "{burst}");
    bob.send("LUSERS");
    bob.expect(":chatroom 251 bob :There are 2 users");
    let after = bob.sync("lusers");
    assert!(!after.iter().any(|l| l.contains(" 253 ")), "{after:#?}");
}

// ------------------------------------------------------------ JOIN / PART

#[test]
fn join_several_rooms_with_keys() {
    let srv = server();
    let (mut alice, mut bob) = room_with_two(&srv);
    alice.join("#k1");
    alice.join("#k2");
    alice.send("MODE #k1 +k one");
    alice.expect("MODE #k1 +k one");
    alice.send("MODE #k2 +k two");
    alice.expect("MODE #k2 +k two");
    bob.send("JOIN #k1,#k2,#open");
    bob.expect(":chatroom 475 bob #k1 :Cannot join channel (+k)");
    bob.expect(":chatroom 475 bob #k2 :Cannot join channel (+k)");
    bob.expect(":bob!bob@127.0.0.1 JOIN #open");
    bob.send("JOIN #k1,#k2 one,wrong");
    bob.expect(":bob!bob@127.0.0.1 JOIN #k1");
    bob.expect(":chatroom 475 bob #k2 ");
    bob.send("JOIN #k2 two");
    bob.expect(":bob!bob@127.0.0.1 JOIN #k2");
}

#[test]
fn join_refusals_471_473_474_476_403_405() {
    let (srv, dir) = server_with("[hub]\nmax_rooms_per_member = 3\n");
    let (mut alice, mut bob) = room_with_two(&srv);
    let mut carol = Irc::login(irc(&srv), "carol");
    alice.send("MODE #r +l 2");
    alice.expect("MODE #r +l 2");
    carol.send("JOIN #r");
    carol.expect(":chatroom 471 carol #r :Cannot join channel (+l)");
    alice.send("MODE #r -l+i");
    alice.expect("MODE #r -l+i");
    carol.send("JOIN #r");
    carol.expect(":chatroom 473 carol #r :Cannot join channel (+i)");
    alice.send("MODE #r -i+b carol");
    alice.expect("MODE #r -i+b carol!*@*");
    carol.send("JOIN #r");
    carol.expect(":chatroom 474 carol #r :Cannot join channel (+b)");
    carol.send("JOIN #a\x07b");
    carol.expect(":chatroom 476 carol #a\x07b :");
    carol.send("JOIN nohash");
    carol.expect(":chatroom 403 carol nohash :");
    // #lobby, #r and one more is bob's limit.
    bob.join("#third");
    bob.send("JOIN #fourth");
    bob.numeric("405");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn part_with_reason_is_seen_by_the_room() {
    let srv = server();
    let (mut alice, mut bob) = room_with_two(&srv);
    bob.send("PART #r :off to lunch");
    alice.expect(":bob!bob@127.0.0.1 PART #r :off to lunch");
    bob.expect(":bob!bob@127.0.0.1 PART #r :off to lunch");
    bob.send("PART #r");
    bob.expect(":chatroom 442 bob #r :You're not on that channel");
    bob.send("PART #gone");
    bob.expect(":chatroom 403 bob #gone :No such channel");
    bob.send("PART");
    bob.expect(":chatroom 461 bob PART :");
}

// ------------------------------------------------------------ modes

#[test]
fn channel_mode_query_324_329() {
    let srv = server();
    let (mut alice, mut bob) = room_with_two(&srv);
    bob.send("MODE #r");
    bob.expect(":chatroom 324 bob #r +nt");
    let created = bob.expect(":chatroom 329 bob #r ");
    let t: u64 = created
        .rsplit(' ')
        .next()
        .and_then(|t| t.parse().ok())
        .expect("a time");
    assert!(t > 1_600_000_000, "{created}");
    alice.send("MODE #r +kl key 5");
    bob.expect(":alice!alice@127.0.0.1 MODE #r +kl key 5");
    bob.send("MODE #r");
    bob.expect(":chatroom 324 bob #r +ntkl key 5");
    // Outsiders do not learn the key.
    let mut carol = Irc::login(irc(&srv), "carol");
    carol.send("MODE #r");
    carol.expect(":chatroom 324 carol #r +ntkl * 5");
}

#[test]
fn names_marks_secret_rooms_with_at_and_others_with_equals() {
    // RFC 2812 3.2.5 and Modern RPL_NAMREPLY: the symbol before the room
    // is `@` for a secret room, `*` for a private one (no +p here), `=`
    // for any other.
    let srv = server();
    let (mut alice, mut bob) = room_with_two(&srv);
    alice.send("NAMES #r");
    alice.expect(":chatroom 353 alice = #r :@alice bob");
    alice.send("MODE #r +s");
    alice.expect(":alice!alice@127.0.0.1 MODE #r +s");
    bob.expect(":alice!alice@127.0.0.1 MODE #r +s");
    bob.send("NAMES #r");
    bob.expect(":chatroom 353 bob @ #r :@alice bob");
    // Joining a secret room: its NAMES reply says so too.
    let mut carol = Irc::login(irc(&srv), "carol");
    carol.send("JOIN #r");
    carol.expect(":chatroom 353 carol @ #r :@alice bob carol");
    alice.send("MODE #r -s");
    alice.expect(":alice!alice@127.0.0.1 MODE #r -s");
    alice.send("NAMES #r");
    alice.expect(":chatroom 353 alice = #r :");
}

#[test]
fn statusmsg_reaches_only_operators_or_voiced_people() {
    // ISUPPORT STATUSMSG (Modern "STATUSMSG" parameter): PRIVMSG/NOTICE to
    // `@#room` reaches its operators, `+#room` its voiced people and
    // operators; the target is shown as sent. Whoever may speak in the
    // room may use it (as InspIRCd does); others get what a message to the
    // room would get (404 under +n).
    let srv = server();
    let mut alice = Irc::connect(irc(&srv), "alice");
    alice.send("NICK alice");
    alice.send("USER alice 0 * :Alice");
    alice.expect(" STATUSMSG=@+ ");
    alice.numeric("422");
    alice.join("#r");
    let mut bob = Irc::login(irc(&srv), "bob");
    bob.join("#r");
    let mut carol = Irc::login(irc(&srv), "carol");
    carol.join("#r");
    alice.expect(":carol!carol@127.0.0.1 JOIN #r");
    bob.send("PRIVMSG @#r :for the operators");
    alice.expect(":bob!bob@127.0.0.1 PRIVMSG @#r :for the operators");
    carol.expect_none("for the operators", "c1");
    bob.expect_none("for the operators", "b1");
    alice.send("MODE #r +v carol");
    carol.expect(":alice!alice@127.0.0.1 MODE #r +v carol");
    bob.send("NOTICE +#r :for voiced people");
    alice.expect(":bob!bob@127.0.0.1 NOTICE +#r :for voiced people");
    carol.expect(":bob!bob@127.0.0.1 NOTICE +#r :for voiced people");
    bob.expect_none("for voiced people", "b2");
    // From outside a +n room: refused as a message to the room would be.
    let mut dave = Irc::login(irc(&srv), "dave");
    dave.send("PRIVMSG @#r :let me in");
    dave.expect(":chatroom 404 dave #r :");
    alice.expect_none("let me in", "a1");
    dave.send("PRIVMSG @#nowhere :hello");
    dave.expect(":chatroom 403 dave #nowhere :");
    // Never replayed to newcomers: only the room's own messages are history.
    bob.send("PRIVMSG #r :for everyone");
    alice.expect("PRIVMSG #r :for everyone");
    dave.send("JOIN #r");
    let replay = dave.sync("replay");
    assert!(
        replay.iter().any(|l| l.contains("for everyone")),
        "{replay:#?}"
    );
    assert!(
        !replay
            .iter()
            .any(|l| l.contains("for the operators") || l.contains("for voiced")),
        "{replay:#?}"
    );
}

#[test]
fn op_and_voice_show_as_prefixes() {
    let srv = server();
    let (mut alice, mut bob) = room_with_two(&srv);
    let mut carol = Irc::login(irc(&srv), "carol");
    carol.join("#r");
    alice.send("MODE #r +v bob");
    bob.expect(":alice!alice@127.0.0.1 MODE #r +v bob");
    carol.expect(":alice!alice@127.0.0.1 MODE #r +v bob");
    carol.send("NAMES #r");
    let names = carol.numeric("353");
    assert!(names.ends_with(":@alice +bob carol"), "{names}");
    carol.expect(":chatroom 366 carol #r :End of /NAMES list.");
    // Several rooms: each room's 353, then one 366 naming them all.
    carol.send("NAMES #r,#lobby,#none");
    carol.expect(":chatroom 353 carol = #r :");
    carol.expect(":chatroom 353 carol = #lobby :");
    let got = carol.sync("names-batch");
    let ends: Vec<&String> = got.iter().filter(|l| l.contains(" 366 ")).collect();
    assert_eq!(
        ends,
        vec![&":chatroom 366 carol #r,#lobby,#none :End of /NAMES list.".to_string()],
        "{got:#?}"
    );
    carol.send("WHO #r");
    carol.expect(":chatroom 352 carol #r alice 127.0.0.1 chatroom alice H@ :0 Real alice");
    carol.expect(":chatroom 352 carol #r bob 127.0.0.1 chatroom bob H+ :0 Real bob");
    carol.expect(":chatroom 352 carol #r carol 127.0.0.1 chatroom carol H :0 Real carol");
    carol.numeric("315");
    alice.send("MODE #r +o-v carol bob");
    carol.expect(":alice!alice@127.0.0.1 MODE #r +o-v carol bob");
    // carol, now an operator, may change modes.
    carol.send("MODE #r +m");
    bob.expect(":carol!carol@127.0.0.1 MODE #r +m");
}

#[test]
fn mode_lists_367_368_348_349_346_347() {
    let srv = server();
    let (mut alice, mut bob) = room_with_two(&srv);
    alice.send("MODE #r +beI bad!*@* good!*@* *!*@10.*");
    alice.expect(":alice!alice@127.0.0.1 MODE #r +beI bad!*@* good!*@* *!*@10.*");
    bob.send("MODE #r +b");
    bob.expect(":chatroom 367 bob #r bad!*@* alice ");
    bob.expect(":chatroom 368 bob #r :End of channel ban list");
    bob.send("MODE #r e");
    bob.expect(":chatroom 348 bob #r good!*@* alice ");
    bob.expect(":chatroom 349 bob #r :End of channel exception list");
    bob.send("MODE #r I");
    bob.expect(":chatroom 346 bob #r *!*@10.* alice ");
    bob.expect(":chatroom 347 bob #r :End of channel invite list");
}

#[test]
fn mode_errors_472_482_441_401_403_467_501_502() {
    let srv = server();
    let (mut alice, mut bob) = room_with_two(&srv);
    let _carol = Irc::login(irc(&srv), "carol");
    alice.send("MODE #r +Z");
    alice.expect(":chatroom 472 alice Z :is unknown mode char to me");
    bob.send("MODE #r +m");
    bob.expect(":chatroom 482 bob #r :You're not channel operator");
    alice.send("MODE #r +o carol");
    alice.expect(":chatroom 441 alice carol #r :They aren't on that channel");
    alice.send("MODE #r +o ghost");
    alice.expect(":chatroom 401 alice ghost :No such nick/channel");
    alice.send("MODE #nowhere +m");
    alice.expect(":chatroom 403 alice #nowhere :No such channel");
    alice.send("MODE #r +k one");
    alice.expect("MODE #r +k one");
    alice.send("MODE #r +k two");
    alice.expect(":chatroom 467 alice #r :Channel key already set");
    alice.send("MODE alice +Q");
    alice.expect(":chatroom 501 alice :Unknown MODE flag");
    alice.send("MODE bob +i");
    alice.expect(":chatroom 502 alice :Can't change mode for other users");
    alice.send("MODE");
    alice.expect(":chatroom 461 alice MODE :");
}

#[test]
fn user_modes_221() {
    let srv = server();
    let mut bob = Irc::login(irc(&srv), "bob");
    bob.send("MODE bob");
    bob.expect(":chatroom 221 bob +");
    bob.send("MODE bob +i");
    bob.expect(":bob!bob@127.0.0.1 MODE bob +i");
    bob.send("MODE bob");
    bob.expect(":chatroom 221 bob +i");
    // Nobody makes themselves an operator with MODE.
    bob.send("MODE bob +o");
    bob.expect_none(" MODE bob +o", "no-self-oper");
    bob.send("MODE bob -i");
    bob.expect(":bob!bob@127.0.0.1 MODE bob -i");
}

#[test]
fn mode_with_hundreds_of_parameters_applies_at_most_modes() {
    let srv = server();
    let (mut alice, mut bob) = room_with_two(&srv);
    // As many parameters as fit in 512 bytes.
    let letters = format!("+{}", "b".repeat(40));
    let mut line = format!("MODE #r {letters}");
    let mut i = 0;
    while line.len() + 3 < 510 {
        if i < 10 {
            line.push_str(&format!(" m{i}"));
        } else {
            line.push_str(" x");
        }
        i += 1;
    }
    assert!(i > 200, "{i} parameters");
    alice.send(&line);
    let mut applied = 0;
    // Six changes (MODES=6) in lines of at most three.
    while applied < 6 {
        let l = bob.expect(":alice!alice@127.0.0.1 MODE #r +b");
        applied += l.split(' ').count() - 4;
    }
    assert_eq!(applied, 6);
    bob.expect_none(" MODE #r ", "after-modes");
    bob.send("MODE #r +b");
    let mut listed = 0;
    loop {
        let l = bob.wait_for("ban list", |l| l.contains(" 367 ") || l.contains(" 368 "));
        if l.contains(" 368 ") {
            break;
        }
        listed += 1;
    }
    assert_eq!(listed, 6);
    // Everyone else carries on.
    alice.send("PRIVMSG #r :still here");
    bob.expect(":alice!alice@127.0.0.1 PRIVMSG #r :still here");
}

// ------------------------------------------------------------ speaking

#[test]
fn moderated_banned_and_outside_speakers_get_404() {
    let srv = server();
    let (mut alice, mut bob) = room_with_two(&srv);
    let mut carol = Irc::login(irc(&srv), "carol");
    carol.send("PRIVMSG #r :from outside");
    carol.expect(":chatroom 404 carol #r :");
    alice.send("MODE #r +m");
    bob.expect("MODE #r +m");
    bob.send("PRIVMSG #r :muted");
    bob.expect(":chatroom 404 bob #r :Cannot send to channel: the room is moderated (+m)");
    alice.send("MODE #r -m+b bob");
    bob.expect("MODE #r -m+b bob!*@*");
    bob.send("PRIVMSG #r :banned");
    bob.expect(":chatroom 404 bob #r :Cannot send to channel: you are banned (+b)");
    alice.send("MODE #r +e *!bob@*");
    bob.expect("MODE #r +e *!bob@*");
    bob.send("PRIVMSG #r :excepted");
    alice.expect(":bob!bob@127.0.0.1 PRIVMSG #r :excepted");
    // NOTICE is refused the same way but never answered.
    carol.send("NOTICE #r :outside notice");
    carol.expect_none(" 404 ", "notice-quiet");
}

#[test]
fn topic_under_plus_t_needs_an_operator() {
    let srv = server();
    let (mut alice, mut bob) = room_with_two(&srv);
    bob.send("TOPIC #r :mine");
    bob.expect(":chatroom 482 bob #r :You're not channel operator");
    alice.send("MODE #r -t");
    bob.expect("MODE #r -t");
    bob.send("TOPIC #r :mine");
    alice.expect(":bob!bob@127.0.0.1 TOPIC #r :mine");
    let mut carol = Irc::login(irc(&srv), "carol");
    carol.send("TOPIC #r :outsider");
    carol.expect(":chatroom 442 carol #r :");
}

#[test]
fn privmsg_targets_and_errors() {
    let srv = server();
    let (mut alice, mut bob) = room_with_two(&srv);
    let mut carol = Irc::login(irc(&srv), "carol");
    alice.send("PRIVMSG bob,carol,#r :to all");
    bob.expect(":alice!alice@127.0.0.1 PRIVMSG bob :to all");
    bob.expect(":alice!alice@127.0.0.1 PRIVMSG #r :to all");
    carol.expect(":alice!alice@127.0.0.1 PRIVMSG carol :to all");
    alice.send("PRIVMSG a,b,c,d,e :too many");
    alice.expect(":chatroom 407 alice a,b,c,d,e :Too many targets");
    alice.send("PRIVMSG ghost :x");
    alice.numeric("401");
    alice.send("PRIVMSG #ghost :x");
    alice.numeric("403");
    alice.send("PRIVMSG");
    alice.numeric("411");
    alice.send("PRIVMSG bob");
    alice.numeric("412");
}

// ------------------------------------------------------------ KICK / INVITE

#[test]
fn kick_and_its_errors() {
    let srv = server();
    let (mut alice, mut bob) = room_with_two(&srv);
    let mut carol = Irc::login(irc(&srv), "carol");
    bob.send("KICK #r alice");
    bob.expect(":chatroom 482 bob #r :You're not channel operator");
    carol.send("KICK #r bob");
    carol.expect(":chatroom 442 carol #r :");
    alice.send("KICK #r carol");
    alice.expect(":chatroom 441 alice carol #r :They aren't on that channel");
    alice.send("KICK #r ghost");
    alice.numeric("401");
    alice.send("KICK #none bob");
    alice.numeric("403");
    alice.send("KICK #r");
    alice.expect(":chatroom 461 alice KICK :");
    alice.send("KICK #r bob :mind your manners");
    alice.expect(":alice!alice@127.0.0.1 KICK #r bob :mind your manners");
    bob.expect(":alice!alice@127.0.0.1 KICK #r bob :mind your manners");
    bob.send("PRIVMSG #r :hello?");
    bob.numeric("404");
    // Without a reason, the kicker's nick.
    bob.join("#r");
    alice.send("KICK #r bob");
    bob.expect(":alice!alice@127.0.0.1 KICK #r bob :alice");
}

#[test]
fn invite_341_and_the_invitation_lets_one_in() {
    let srv = server();
    let (mut alice, mut bob) = room_with_two(&srv);
    let mut carol = Irc::login(irc(&srv), "carol");
    alice.send("MODE #r +i");
    alice.expect("MODE #r +i");
    bob.send("INVITE carol #r");
    bob.expect(":chatroom 482 bob #r :You're not channel operator");
    carol.send("AWAY :at lunch");
    carol.numeric("306");
    alice.send("INVITE carol #r");
    alice.expect(":chatroom 341 alice carol #r");
    alice.expect(":chatroom 301 alice carol :at lunch");
    carol.expect(":alice!alice@127.0.0.1 INVITE carol #r");
    carol.join("#r");
    alice.send("INVITE bob #r");
    alice.expect(":chatroom 443 alice bob #r :is already on channel");
    alice.send("INVITE ghost #r");
    alice.numeric("401");
    alice.send("INVITE carol");
    alice.numeric("461");
    let mut dave = Irc::login(irc(&srv), "dave");
    dave.send("INVITE alice #r");
    dave.expect(":chatroom 442 dave #r :");
}

// ------------------------------------------------------------ LIST / WHO / WHOIS / WHOWAS

#[test]
fn list_with_patterns() {
    let srv = server();
    let (mut alice, mut bob) = room_with_two(&srv);
    alice.join("#rust");
    bob.join("#rust");
    alice.join("#ruby");
    alice.join("#secret");
    alice.send("MODE #secret +s");
    alice.expect("MODE #secret +s");
    let list = |c: &mut Irc, arg: &str| -> Vec<String> {
        c.send(&format!("LIST {arg}"));
        c.numeric("321");
        let mut rooms = Vec::new();
        loop {
            let l = c.wait_for("322/323", |l| l.contains(" 322 ") || l.contains(" 323 "));
            if l.contains(" 323 ") {
                return rooms;
            }
            rooms.push(l.split(' ').nth(3).unwrap_or("").to_string());
        }
    };
    assert_eq!(list(&mut bob, "#ru*"), vec!["#ruby", "#rust"]);
    assert_eq!(list(&mut bob, ">1"), vec!["#lobby", "#r", "#rust"]);
    assert_eq!(list(&mut bob, "<2"), vec!["#ruby"]);
    assert_eq!(list(&mut bob, "#r,#ruby"), vec!["#r", "#ruby"]);
    // Secret rooms are listed only for their members.
    assert!(list(&mut alice, "").contains(&"#secret".to_string()));
    assert!(!list(&mut bob, "").contains(&"#secret".to_string()));
}

#[test]
fn who_masks_flags_and_whox() {
    let srv = server();
    let (mut alice, mut bob) = room_with_two(&srv);
    bob.send("AWAY :gone");
    bob.numeric("306");
    alice.send("WHO b*");
    alice.expect(":chatroom 352 alice * bob 127.0.0.1 chatroom bob G :0 Real bob");
    alice.expect(":chatroom 315 alice b* :End of /WHO list.");
    alice.send("WHO #r %tcuhnfr,42");
    alice.expect(":chatroom 354 alice 42 #r alice 127.0.0.1 alice H@ :Real alice");
    alice.expect(":chatroom 354 alice 42 #r bob 127.0.0.1 bob G :Real bob");
    alice.numeric("315");
    // Fields come in the specification's order whatever order is asked.
    alice.send("WHO bob %nu");
    alice.expect(":chatroom 354 alice bob bob");
    // Invisible people are found by name, not by wildcard, unless one
    // shares a room with them.
    let mut carol = Irc::login(irc(&srv), "carol");
    carol.send("MODE carol +i");
    carol.expect("MODE carol +i");
    carol.send("PART #lobby");
    carol.expect("PART #lobby");
    bob.send("WHO c*");
    let got = bob.sync("who-invisible");
    assert!(!got.iter().any(|l| l.contains(" 352 ")), "{got:#?}");
    bob.send("WHO carol");
    bob.expect(":chatroom 352 bob * carol ");
}

#[test]
fn whois_311_312_313_317_318_319_301() {
    let srv = server();
    let (mut alice, mut bob) = room_with_two(&srv);
    bob.send("AWAY :brb");
    bob.numeric("306");
    alice.send("WHOIS bob");
    alice.expect(":chatroom 311 alice bob bob 127.0.0.1 * :Real bob");
    let rooms = alice.expect(":chatroom 319 alice bob :");
    assert!(rooms.contains("#lobby") && rooms.contains("#r"), "{rooms}");
    alice.expect(":chatroom 312 alice bob chatroom :");
    alice.expect(":chatroom 301 alice bob :brb");
    alice.expect(":chatroom 317 alice bob ");
    alice.expect(":chatroom 318 alice bob :End of /WHOIS list.");
}

#[test]
fn whowas_314_312_369_and_406() {
    let srv = server();
    let mut alice = Irc::login(irc(&srv), "alice");
    let mut gone = Irc::login(irc(&srv), "ghost");
    gone.send("QUIT :bye");
    alice.expect(":ghost!ghost@127.0.0.1 QUIT :Quit: bye");
    alice.send("WHOWAS ghost");
    alice.expect(":chatroom 314 alice ghost ghost 127.0.0.1 * :Real ghost");
    alice.expect(":chatroom 312 alice ghost chatroom :");
    alice.expect(":chatroom 369 alice ghost :End of WHOWAS");
    alice.send("WHOWAS nobody");
    alice.expect(":chatroom 406 alice nobody :There was no such nickname");
    alice.expect(":chatroom 369 alice nobody :End of WHOWAS");
    alice.send("WHOWAS");
    alice.numeric("431");
}

// ------------------------------------------------------------ OPER / KILL

#[test]
fn oper_381_464_491_and_kill_481() {
    let toml = format!(
        "[[opers]]\nname = \"admin\"\npassword_hash = \"{}\"\n",
        common::hash_password("correct horse")
    );
    let (srv, dir) = server_with(&toml);
    let mut alice = Irc::login(irc(&srv), "alice");
    let mut bob = Irc::login(irc(&srv), "bob");
    let mut line = LineClient::line_login(srv.line.expect("line"), "lina");
    alice.send("KILL bob :spam");
    alice.expect(":chatroom 481 alice :Permission Denied- You're not an IRC operator");
    alice.send("OPER admin wrong");
    alice.expect(":chatroom 464 alice :Password incorrect");
    alice.send("OPER nobody correct");
    alice.expect(":chatroom 491 alice :");
    alice.send("OPER admin");
    alice.numeric("461");
    alice.send("OPER admin :correct horse");
    alice.expect(":chatroom 381 alice :You are now an IRC operator");
    alice.expect(":alice!alice@127.0.0.1 MODE alice +o");
    bob.send("WHOIS alice");
    bob.expect(":chatroom 313 bob alice :is an IRC operator");
    bob.send("WHO alice");
    bob.expect(":chatroom 352 bob * alice 127.0.0.1 chatroom alice H* :0 Real alice");
    alice.send("KILL ghost :x");
    alice.numeric("401");
    alice.send("KILL bob");
    alice.numeric("461");
    alice.send("KILL bob :spamming");
    let closed = bob.c.expect_closed();
    assert!(
        closed
            .iter()
            .any(|l| l.starts_with("ERROR :") && l.contains("Killed (alice (spamming))")),
        "{closed:#?}"
    );
    alice.expect(":bob!bob@127.0.0.1 QUIT :Killed (alice (spamming))");
    line.expect("* bob quit (Killed (alice (spamming)))");
    // The failed attempts were logged, the password never.
    let log = srv.stderr();
    assert!(log.contains("OPER with a wrong password"), "{log}");
    assert!(
        !log.contains("correct horse") && !log.contains("wrong\""),
        "{log}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn help_704_705_706_and_524() {
    let srv = server();
    let mut alice = Irc::login(irc(&srv), "alice");
    alice.send("HELP");
    alice.expect(":chatroom 704 alice index :** chatroom help **");
    let index = alice.sync("index");
    assert!(
        index
            .iter()
            .any(|l| l.starts_with(":chatroom 705 alice index :") && l.contains("PRIVMSG")),
        "{index:#?}"
    );
    assert!(
        index
            .iter()
            .any(|l| l == ":chatroom 706 alice index :End of /HELP"),
        "{index:#?}"
    );
    alice.send("HELPOP privmsg");
    alice.expect(":chatroom 704 alice PRIVMSG :PRIVMSG <target>{,<target>} :<text>");
    alice.expect(":chatroom 706 alice PRIVMSG :End of /HELP");
    alice.send("HELP NOSUCHTHING");
    alice.expect(":chatroom 524 alice NOSUCHTHING :No help available on this topic");
    // NickServ's own HELP is still NickServ's.
    alice.send("PRIVMSG NickServ :HELP");
    alice.expect(":NickServ!NickServ@services. NOTICE alice :NickServ lets you register");
}

#[test]
fn wallops_481_and_plus_w() {
    let toml = format!(
        "[[opers]]\nname = \"admin\"\npassword_hash = \"{}\"\n",
        common::hash_password("wallops pw")
    );
    let (srv, dir) = server_with(&toml);
    let mut alice = Irc::login(irc(&srv), "alice");
    let mut bob = Irc::login(irc(&srv), "bob");
    let mut carol = Irc::login(irc(&srv), "carol");
    alice.send("WALLOPS :not yet");
    alice.expect(":chatroom 481 alice :Permission Denied- You're not an IRC operator");
    carol.send("MODE carol +w");
    carol.expect(":carol!carol@127.0.0.1 MODE carol +w");
    carol.send("MODE carol");
    carol.expect(":chatroom 221 carol +w");
    alice.send("OPER admin :wallops pw");
    alice.expect(":chatroom 381 alice :");
    alice.send("WALLOPS :hi everyone");
    carol.expect(":alice!alice@127.0.0.1 WALLOPS :hi everyone");
    bob.expect_none("WALLOPS", "no-wallops");
    alice.expect_none("WALLOPS", "no-echo");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn links_364_365_for_this_server_alone() {
    let (srv, dir) = server_with("server_info = \"the LAN's server\"\n");
    let mut alice = Irc::login(irc(&srv), "alice");
    alice.send("LINKS");
    alice.expect(":chatroom 364 alice chatroom chatroom :0 the LAN's server");
    alice.expect(":chatroom 365 alice * :End of /LINKS list");
    alice.send("LINKS *.elsewhere");
    let got = alice.sync("links");
    assert_eq!(
        got,
        [":chatroom 365 alice *.elsewhere :End of /LINKS list"],
        "{got:#?}"
    );
    std::fs::remove_dir_all(dir).ok();
}

// ------------------------------------------------------------ bad input

#[test]
fn line_over_512_bytes_is_refused_with_417_and_never_split() {
    let srv = server();
    let (mut alice, mut bob) = room_with_two(&srv);
    // If the server split this line, its tail would be a QUIT of its own.
    let filler = "x".repeat(600);
    alice.send(&format!("PRIVMSG #r :{filler} \r\nQUIT :split"));
    alice.expect(":chatroom 417 alice :Input line was too long");
    // The "QUIT :split" after the CR LF is a line of its own and does quit;
    // what matters is that the long line delivered nothing.
    let got = bob.sync("after-long");
    assert!(!got.iter().any(|l| l.contains("xxxx")), "{got:#?}");
    // Exactly 512 bytes with CR LF is accepted.
    let mut carol = Irc::login(irc(&srv), "carol");
    carol.join("#r");
    let prefix = "PRIVMSG #r :";
    let body = "y".repeat(510 - prefix.len());
    carol.send(&format!("{prefix}{body}"));
    carol.send(&format!("{prefix}{body}z"));
    carol.numeric("417");
    // The accepted one arrives as one line, cut to 512 bytes with CR LF
    // now that carol's source is in front; the refused one not at all.
    let got = bob.sync("after-512");
    let relayed: Vec<&String> = got
        .iter()
        .filter(|l| l.starts_with(":carol!") && l.contains(" PRIVMSG #r :"))
        .collect();
    assert_eq!(relayed.len(), 1, "{got:#?}");
    assert_eq!(relayed[0].len(), 510, "{got:#?}");
    let (_, text) = relayed[0].split_once(" :").expect("trailing");
    assert!(body.starts_with(text), "{got:#?}");
    assert!(!got.iter().any(|l| l.contains('z')), "{got:#?}");
}

#[test]
fn unknown_commands_get_421_and_change_nothing() {
    let srv = server();
    let mut bob = Irc::login(irc(&srv), "bob");
    bob.send("FROBNICATE a b c");
    bob.expect(":chatroom 421 bob FROBNICATE :Unknown command");
    bob.send("PRIVMSG bob :still works");
    bob.expect(":bob!bob@127.0.0.1 PRIVMSG bob :still works");
}

#[test]
fn tags_with_bad_escapes_are_parsed_and_never_relayed() {
    let srv = server();
    let (mut alice, mut bob) = room_with_two(&srv);
    // Escapes that unescape to CR and LF, an unknown escape and a trailing
    // backslash: none of it may reach anyone as a line break.
    alice.send_raw(b"@+x=a\\nb\\rc\\q\\;+y=\\ :spoof!x@y PRIVMSG #r :tagged\r\n");
    alice.send("PRIVMSG #r :marker");
    let before = std::cell::RefCell::new(Vec::new());
    bob.wait_for("marker", |l| {
        before.borrow_mut().push(l.to_string());
        l.contains("PRIVMSG #r :marker")
    });
    let got = before.into_inner();
    let relayed: Vec<&String> = got
        .iter()
        .filter(|l| l.contains("tagged") || l.contains("spoof"))
        .collect();
    assert_eq!(
        relayed,
        vec![&":alice!alice@127.0.0.1 PRIVMSG #r :tagged".to_string()],
        "{got:#?}"
    );
    // A lone "@" or ":" with nothing after it is ignored; the connection
    // carries on.
    alice.send("@");
    alice.send(":");
    alice.send("@a=b");
    alice.send("PRIVMSG #r :still fine");
    bob.expect(":alice!alice@127.0.0.1 PRIVMSG #r :still fine");
}

#[test]
fn cap_abuse_is_refused_and_bounded() {
    let srv = server();
    let mut c = Irc::connect(irc(&srv), "bob");
    c.send("CAP LS 302");
    c.expect(":chatroom CAP * LS :");
    c.send("CAP REQ :sasl no-such-cap");
    c.expect(":chatroom CAP * NAK :sasl no-such-cap");
    // A REQ as long as a line can be: one NAK, itself within 512 bytes.
    let caps: String = (0..80).map(|i| format!("cap{i} ")).collect();
    let caps = caps.trim_end();
    assert!(caps.len() > 400);
    c.send(&format!("CAP REQ :{caps}"));
    let nak = c.expect(":chatroom CAP * NAK :cap0 ");
    assert!(nak.len() + 2 <= 512, "{}", nak.len());
    c.send("CAP FROB");
    c.expect(":chatroom 410 * FROB :");
    c.send("NICK bob");
    c.send("USER bob 0 * :Bob");
    c.expect_none(" 001 ", "still-negotiating");
    c.send("CAP END");
    c.numeric("001");
}

#[test]
fn ping_at_the_limit_is_answered_within_512_bytes() {
    let srv = server();
    let mut bob = Irc::login(irc(&srv), "bob");
    // 510 bytes plus CR LF: accepted; the PONG is cut to fit.
    let token = "x".repeat(505);
    bob.send(&format!("PING {token}"));
    let pong = bob.expect(":chatroom PONG chatroom :xxxx");
    assert!(
        pong.len() + 2 <= 512 && pong.contains(&"x".repeat(450)),
        "{pong}"
    );
    // One byte more: 417, and the connection carries on.
    bob.send(&format!("PING {token}x"));
    bob.numeric("417");
    bob.join("#after");
}

#[test]
fn connection_password_464_then_error() {
    let toml = format!(
        "irc_password_hash = \"{}\"\n",
        common::hash_password("letmein")
    );
    let (srv, dir) = server_with(&toml);
    // Right password, before NICK/USER.
    let mut ok = Irc::connect(irc(&srv), "good");
    ok.send("PASS letmein");
    ok.send("NICK good");
    ok.send("USER good 0 * :Good");
    ok.numeric("001");
    // Wrong, missing, or too late: 464, ERROR, closed, never 001.
    for (i, lines) in [
        vec!["PASS wrong", "NICK bad0", "USER b 0 * :B"],
        vec!["NICK bad1", "USER b 0 * :B"],
        vec!["NICK bad2", "USER b 0 * :B", "PASS letmein"],
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = Irc::connect(irc(&srv), &format!("bad{i}"));
        // One write: the server may close as soon as it has seen USER.
        c.send_raw(format!("{}\r\n", lines.join("\r\n")).as_bytes());
        let seen = c.c.expect_closed();
        assert!(
            seen.iter()
                .any(|l| l.contains(" 464 * :Password incorrect")),
            "{seen:#?}"
        );
        assert!(seen.iter().any(|l| l.starts_with("ERROR :")), "{seen:#?}");
        assert!(!seen.iter().any(|l| l.contains(" 001 ")), "{seen:#?}");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn full_lists_get_478() {
    let (srv, dir) = server_with("[hub]\nmax_list_entries = 2\n");
    let (mut alice, _bob) = room_with_two(&srv);
    alice.send("MODE #r +bbb a b c");
    // The refusal comes first, then what was applied.
    alice.expect(":chatroom 478 alice #r b :Channel list is full");
    alice.expect(":alice!alice@127.0.0.1 MODE #r +bb a!*@* b!*@*");
    alice.send("MODE #r +e x");
    alice.expect("MODE #r +e x!*@*");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn ping_without_origin_gets_409() {
    let srv = server();
    let mut bob = Irc::login(irc(&srv), "bob");
    bob.send("PING");
    bob.expect(":chatroom 409 bob :No origin specified");
}
