use super::*;
use crate::irc::caps::CapSet;

fn cfg() -> Config {
    Config::default()
}

fn run(st: &mut State, line: &str) -> Vec<Step> {
    let msg = Message::parse(line).expect("parses");
    translate(st, &msg, &cfg())
}

/// The local reply in a step, rendered by a renderer whose client is `*`.
fn shown(step: &Step) -> String {
    use crate::Renderer;
    let ev: crate::Body = match step {
        Step::Tell(ev) => ev.clone().into(),
        Step::Note(local) => local.body(),
        Step::Raw(bytes) => bytes.clone().into(),
        _ => panic!("not a reply: {step:?}"),
    };
    let mut r = super::super::render::IrcRenderer::new(&cfg());
    let mut out = bytes::BytesMut::new();
    r.render(&crate::Envelope::new(ev), &mut out);
    String::from_utf8(out.to_vec()).expect("utf-8")
}

fn registered_state() -> State {
    let mut st = State::default();
    run(&mut st, "NICK bob");
    run(&mut st, "USER bob 0 * :Bob");
    st.registered();
    st
}

fn register_step(nick: &str, user: &str, realname: &str) -> Step {
    Step::Register {
        nick: nick.into(),
        user: user.into(),
        realname: realname.into(),
    }
}

#[test]
fn nick_then_user_registers() {
    let mut st = State::default();
    assert_eq!(run(&mut st, "NICK bob"), vec![]);
    assert_eq!(
        run(&mut st, "USER bobby 0 * :Bob Smith"),
        vec![register_step("bob", "bobby", "Bob Smith")]
    );
}

#[test]
fn user_then_nick_registers() {
    let mut st = State::default();
    assert_eq!(run(&mut st, "USER u 0 * :R"), vec![]);
    assert_eq!(
        run(&mut st, "NICK bob"),
        vec![register_step("bob", "u", "R")]
    );
}

#[test]
fn taken_nick_can_be_retried() {
    let mut st = State::default();
    run(&mut st, "USER u 0 * :R");
    assert_eq!(
        run(&mut st, "NICK alice"),
        vec![register_step("alice", "u", "R")]
    );
    st.register_failed();
    assert_eq!(
        run(&mut st, "NICK alice_"),
        vec![register_step("alice_", "u", "R")]
    );
    st.registered();
    assert!(st.is_registered());
    // The names now live in the hub and the renderer only.
    assert_eq!(st.nick(), None);
}

#[test]
fn erroneous_nick_is_refused_at_once() {
    let mut st = State::default();
    let steps = run(&mut st, "NICK 9lives");
    assert_eq!(steps.len(), 1);
    assert!(shown(&steps[0]).starts_with(":chatroom 432 * 9lives :Erroneous nickname"));
    assert_eq!(st.nick(), None);
    assert_eq!(run(&mut st, "USER u 0 * :R"), vec![]);
    let steps = run(&mut st, "NICK");
    assert!(shown(&steps[0]).starts_with(":chatroom 431 * :"));
}

#[test]
fn cap_negotiation_holds_registration() {
    let mut st = State::default();
    let steps = run(&mut st, "CAP LS 302");
    assert_eq!(
        shown(&steps[0]),
        ":chatroom CAP * LS :cap-notify message-tags server-time echo-message \
         labeled-response batch multi-prefix userhost-in-names extended-join away-notify \
         setname chghost invite-notify standard-replies utf8only draft/chathistory \
         sasl=PLAIN,EXTERNAL account-notify account-tag \
         draft/account-registration=before-connect\r\n"
    );
    assert_eq!(run(&mut st, "NICK bob"), vec![]);
    assert_eq!(run(&mut st, "USER bob 0 * :B"), vec![]);
    // Not offered: the whole request is refused.
    let steps = run(&mut st, "CAP REQ :multi-prefix draft/event-playback");
    assert_eq!(
        shown(&steps[0]),
        ":chatroom CAP * NAK :multi-prefix draft/event-playback\r\n"
    );
    assert_eq!(steps.len(), 1, "a NAK changes nothing: {steps:?}");
    let steps = run(&mut st, "CAP REQ :multi-prefix server-time");
    assert_eq!(
        shown(&steps[0]),
        ":chatroom CAP * ACK :multi-prefix server-time\r\n"
    );
    let want = CapSet::EMPTY
        .with(Cap::CapNotify)
        .with(Cap::MultiPrefix)
        .with(Cap::ServerTime);
    assert_eq!(steps[1], Step::Note(Local::Caps(want)));
    let steps = run(&mut st, "CAP LIST");
    assert_eq!(
        shown(&steps[0]),
        ":chatroom CAP * LIST :cap-notify multi-prefix server-time\r\n"
    );
    assert_eq!(
        run(&mut st, "CAP END"),
        vec![register_step("bob", "bob", "B")]
    );
    let steps = run(&mut st, "CAP FOO");
    assert!(shown(&steps[0]).starts_with(":chatroom 410 * FOO :"));
}

#[test]
fn nothing_unimplemented_is_offered() {
    let offered = offer(true, false).set();
    for cap in [
        Cap::Sasl,
        Cap::AccountNotify,
        Cap::AccountTag,
        Cap::AccountRegistration,
    ] {
        assert!(!offered.has(cap), "{cap} is offered");
    }
    // Hosts change only by CHGHOST, which needs no accounts.
    assert!(offered.has(Cap::Chghost));
    // Chat history only with a history to read.
    assert!(offered.has(Cap::ChatHistory));
    assert!(!offer(false, false).set().has(Cap::ChatHistory));
    // Accounts only when they are on.
    let with = offer(true, true).set();
    for cap in [
        Cap::Sasl,
        Cap::AccountNotify,
        Cap::AccountTag,
        Cap::AccountRegistration,
    ] {
        assert!(with.has(cap), "{cap} is not offered");
    }
}

#[test]
fn cap_end_without_ls_is_harmless() {
    let mut st = State::default();
    assert_eq!(run(&mut st, "CAP END"), vec![]);
    run(&mut st, "NICK bob");
    assert_eq!(run(&mut st, "USER bob 0 * :B").len(), 1);
}

#[test]
fn before_registration() {
    let mut st = State::default();
    for line in ["JOIN #a", "PRIVMSG #a :hi", "LIST", "WHOIS x", "FOO"] {
        let steps = run(&mut st, line);
        assert_eq!(steps.len(), 1, "{line}");
        assert_eq!(
            shown(&steps[0]),
            ":chatroom 451 * :You have not registered\r\n"
        );
    }
    assert_eq!(run(&mut st, "PASS secret"), vec![]);
    let steps = run(&mut st, "PING :tok en");
    assert_eq!(
        steps,
        vec![Step::Raw(Bytes::from_static(
            b":chatroom PONG chatroom :tok en\r\n"
        ))]
    );
    assert_eq!(run(&mut st, "PONG :x"), vec![]);
    // A token as long as a line may be: the PONG stays within 512 bytes.
    let long = format!("PING {}", "x".repeat(505));
    match &run(&mut st, &long)[..] {
        [Step::Raw(b)] => {
            assert_eq!(b.len(), 512);
            assert!(b.ends_with(b"xxx\r\n"));
        }
        other => panic!("{other:?}"),
    }
    let steps = run(&mut st, "USER bob");
    assert!(shown(&steps[0]).starts_with(":chatroom 461 * USER :"));
    assert_eq!(run(&mut st, "QUIT"), vec![Step::Quit("Client quit".into())]);
}

#[test]
fn after_registration_user_and_pass_are_refused() {
    let mut st = registered_state();
    for line in ["USER a b c :d", "PASS x"] {
        let steps = run(&mut st, line);
        assert!(shown(&steps[0]).contains(" 462 "), "{line}");
    }
    assert_eq!(
        run(&mut st, "NICK robert"),
        vec![Step::Send(Command::Nick("robert".into()))]
    );
}

#[test]
fn join_and_part() {
    let mut st = registered_state();
    let join = |r: &str| Step::Send(Command::Join(r.into()));
    let join_key = |r: &str, k: &str| {
        Step::Send(Command::JoinKey {
            room: r.into(),
            key: k.into(),
        })
    };
    // Keys pair up with rooms in order; an empty room is skipped with its key.
    assert_eq!(
        run(&mut st, "JOIN #a,#b,,#c key1,,x,key3"),
        vec![join_key("#a", "key1"), join("#b"), join_key("#c", "key3")]
    );
    assert_eq!(run(&mut st, "JOIN #a,#b"), vec![join("#a"), join("#b")]);
    let part = |r: &str, reason: Option<&str>| {
        Step::Send(Command::Part {
            room: r.into(),
            reason: reason.map(Into::into),
        })
    };
    assert_eq!(
        run(&mut st, "PART #a,#b :see you"),
        vec![part("#a", Some("see you")), part("#b", Some("see you"))]
    );
    assert_eq!(run(&mut st, "PART #a"), vec![part("#a", None)]);
    assert_eq!(run(&mut st, "JOIN 0"), vec![Step::Send(Command::PartAll)]);
    assert!(shown(&run(&mut st, "JOIN")[0]).contains(" 461 * JOIN :"));
    assert!(shown(&run(&mut st, "PART")[0]).contains(" 461 * PART :"));
}

fn say(target: SayTarget, kind: MsgKind, text: &str) -> Step {
    Step::Send(Command::Say {
        target,
        kind,
        text: text.into(),
        tags: Vec::new(),
    })
}

#[test]
fn privmsg_and_notice() {
    let mut st = registered_state();
    assert_eq!(
        run(&mut st, "PRIVMSG #a,alice :hello there"),
        vec![
            say(SayTarget::Room("#a".into()), MsgKind::Say, "hello there"),
            say(SayTarget::Nick("alice".into()), MsgKind::Say, "hello there"),
        ]
    );
    assert_eq!(
        run(&mut st, "PRIVMSG #a :\u{1}ACTION waves\u{1}"),
        vec![say(SayTarget::Room("#a".into()), MsgKind::Action, "waves")]
    );
    // A CTCP request other than ACTION is relayed as it is.
    assert_eq!(
        run(&mut st, "PRIVMSG alice :\u{1}VERSION\u{1}"),
        vec![say(
            SayTarget::Nick("alice".into()),
            MsgKind::Say,
            "\u{1}VERSION\u{1}"
        )]
    );
    assert_eq!(
        run(&mut st, "NOTICE alice :\u{1}VERSION x 1.0\u{1}"),
        vec![say(
            SayTarget::Nick("alice".into()),
            MsgKind::Notice,
            "\u{1}VERSION x 1.0\u{1}"
        )]
    );
    assert!(shown(&run(&mut st, "PRIVMSG")[0]).contains(" 411 * :No recipient given (PRIVMSG)"));
    assert!(shown(&run(&mut st, "PRIVMSG #a")[0]).contains(" 412 * :"));
    assert!(shown(&run(&mut st, "PRIVMSG #a :")[0]).contains(" 412 * :"));
    // NOTICE never gets an automatic reply, not even an error.
    assert_eq!(run(&mut st, "NOTICE"), vec![]);
    assert_eq!(run(&mut st, "NOTICE #a"), vec![]);
}

#[test]
fn long_text_is_split_for_the_hub() {
    let mut st = registered_state();
    let text = "abc ".repeat(120);
    let steps = run(&mut st, &format!("PRIVMSG #a :{}", text.trim()));
    assert_eq!(steps.len(), 2);
    for s in &steps {
        let Step::Send(Command::Say { text, .. }) = s else {
            panic!("{s:?}");
        };
        assert!(text.len() <= cfg().hub.text_len);
    }
}

#[test]
fn queries() {
    let mut st = registered_state();
    assert_eq!(
        run(&mut st, "TOPIC #a"),
        vec![Step::Send(Command::Topic {
            room: "#a".into(),
            topic: None
        })]
    );
    assert_eq!(
        run(&mut st, "TOPIC #a :"),
        vec![Step::Send(Command::Topic {
            room: "#a".into(),
            topic: Some(String::new())
        })]
    );
    assert_eq!(
        run(&mut st, "NAMES #a,#b"),
        vec![
            local(Local::NamesBegin),
            Step::Send(Command::Names("#a".into())),
            Step::Send(Command::Names("#b".into())),
            local(Local::NamesEnd("#a,#b".into())),
        ]
    );
    assert_eq!(
        run(&mut st, "NAMES #a"),
        vec![Step::Send(Command::Names("#a".into()))]
    );
    assert!(shown(&run(&mut st, "NAMES")[0]).contains(" 366 * * :"));
    assert_eq!(
        run(&mut st, "WHO #a o"),
        vec![Step::Send(Command::Who("#a".into()))]
    );
    assert!(shown(&run(&mut st, "WHO")[0]).contains(" 315 * * :"));
    assert_eq!(
        run(&mut st, "WHOIS srv alice,carol"),
        vec![
            Step::Send(Command::Whois("alice".into())),
            Step::Note(Local::WhoisEnd("alice".into())),
            Step::Send(Command::Whois("carol".into())),
            Step::Note(Local::WhoisEnd("carol".into())),
        ]
    );
    assert!(shown(&run(&mut st, "WHOIS")[0]).contains(" 431 "));
    assert_eq!(
        run(&mut st, "WHOWAS zed"),
        vec![Step::Send(Command::Whowas {
            nick: "zed".into(),
            count: 0
        })]
    );
    assert_eq!(
        run(&mut st, "AWAY :lunch"),
        vec![Step::Send(Command::Away(Some("lunch".into())))]
    );
    assert_eq!(run(&mut st, "AWAY"), vec![Step::Send(Command::Away(None))]);
    assert_eq!(run(&mut st, "MOTD"), vec![local(Local::Motd)]);
    assert!(shown(&run(&mut st, "FROB x")[0]).contains(" 421 * FROB :Unknown command"));
}

#[test]
fn userhost_and_ison() {
    let mut st = registered_state();
    assert_eq!(
        run(&mut st, "USERHOST a b c d e f"),
        vec![
            local(Local::QuietBegin),
            Step::Send(Command::Whois("a".into())),
            Step::Send(Command::Whois("b".into())),
            Step::Send(Command::Whois("c".into())),
            Step::Send(Command::Whois("d".into())),
            Step::Send(Command::Whois("e".into())),
            local(Local::UserhostEnd),
        ]
    );
    assert_eq!(
        run(&mut st, "ISON :a b"),
        vec![
            local(Local::QuietBegin),
            Step::Send(Command::Whois("a".into())),
            Step::Send(Command::Whois("b".into())),
            local(Local::IsonEnd),
        ]
    );
    assert!(shown(&run(&mut st, "ISON")[0]).contains(" 461 "));
}

#[test]
fn modes_go_to_the_hub() {
    let mut st = registered_state();
    let mode = |t: &str, args: &[&str]| {
        Step::Send(Command::Mode {
            target: t.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
        })
    };
    assert_eq!(run(&mut st, "MODE #lobby"), vec![mode("#lobby", &[])]);
    assert_eq!(
        run(&mut st, "MODE #lobby +ov-b bob carol *!*@x"),
        vec![mode("#lobby", &["+ov-b", "bob", "carol", "*!*@x"])]
    );
    assert_eq!(run(&mut st, "MODE bob +i"), vec![mode("bob", &["+i"])]);
    assert!(shown(&run(&mut st, "MODE")[0]).contains(" 461 * MODE :"));
    // Hundreds of parameters are passed on as they are; the hub applies
    // at most MODES of them.
    let many = format!("MODE #lobby +{} {}", "b".repeat(100), "x ".repeat(100));
    let steps = run(&mut st, &many);
    assert_eq!(steps.len(), 1);
}

#[test]
fn kick_invite_oper_kill_whowas_lusers() {
    let mut st = registered_state();
    let kick = |r: &str, n: &str, reason: Option<&str>| {
        Step::Send(Command::Kick {
            room: r.into(),
            nick: n.into(),
            reason: reason.map(Into::into),
        })
    };
    assert_eq!(
        run(&mut st, "KICK #a x,y :bye"),
        vec![kick("#a", "x", Some("bye")), kick("#a", "y", Some("bye"))]
    );
    assert_eq!(
        run(&mut st, "KICK #a,#b x,y"),
        vec![kick("#a", "x", None), kick("#b", "y", None)]
    );
    assert!(shown(&run(&mut st, "KICK #a")[0]).contains(" 461 * KICK :"));
    assert_eq!(
        run(&mut st, "INVITE carol #a"),
        vec![Step::Send(Command::Invite {
            nick: "carol".into(),
            room: "#a".into()
        })]
    );
    assert!(shown(&run(&mut st, "INVITE carol")[0]).contains(" 461 "));
    assert_eq!(
        run(&mut st, "OPER admin secret"),
        vec![Step::Oper {
            name: "admin".into(),
            password: "secret".into()
        }]
    );
    assert!(shown(&run(&mut st, "OPER admin")[0]).contains(" 461 * OPER :"));
    assert!(shown(&run(&mut st, "KILL bob")[0]).contains(" 461 * KILL :"));
    assert_eq!(
        run(&mut st, "WHOWAS alice 2"),
        vec![Step::Send(Command::Whowas {
            nick: "alice".into(),
            count: 2
        })]
    );
    assert_eq!(run(&mut st, "LUSERS"), vec![Step::Send(Command::Lusers)]);
}

#[test]
fn list_filters() {
    let mut st = registered_state();
    assert_eq!(
        run(&mut st, "LIST #ru*,>2,<10"),
        vec![Step::Send(Command::List(ListQuery {
            masks: vec!["#ru*".into()],
            more_than: Some(2),
            fewer_than: Some(10),
        }))]
    );
    assert_eq!(
        run(&mut st, "LIST"),
        vec![Step::Send(Command::List(ListQuery::default()))]
    );
}

#[test]
fn too_many_targets() {
    let mut st = registered_state();
    assert!(shown(&run(&mut st, "PRIVMSG a,b,c,d,e :hi")[0]).contains(" 407 * a,b,c,d,e :"));
    assert_eq!(run(&mut st, "NOTICE a,b,c,d,e :hi"), vec![]);
    assert_eq!(run(&mut st, "PRIVMSG a,b,c,d :hi").len(), 4);
}

#[test]
fn whox_request_is_noted_before_the_who() {
    let mut st = registered_state();
    assert_eq!(
        run(&mut st, "WHO #a %tnf,42"),
        vec![
            local(Local::Whox {
                fields: "tnf".into(),
                token: "42".into()
            }),
            Step::Send(Command::Who("#a".into()))
        ]
    );
}

#[test]
fn quit_reason_is_marked() {
    let mut st = registered_state();
    assert_eq!(
        run(&mut st, "QUIT :Ping timeout"),
        vec![Step::Quit("Quit: Ping timeout".into())]
    );
    assert_eq!(
        run(&mut st, "QUIT :"),
        vec![Step::Quit("Client quit".into())]
    );
}

#[test]
fn echoed_input_is_cut() {
    let mut st = registered_state();
    let long = "X".repeat(300);
    let out = shown(&run(&mut st, &long)[0]);
    assert!(out.len() < 200, "{out}");
}

#[test]
fn lone_cr_and_nul_become_spaces() {
    assert_eq!(clean_line("PRIVMSG #a :x\ry\0z"), "PRIVMSG #a :x y z");
    assert!(matches!(clean_line("plain"), Cow::Borrowed(_)));
}

#[test]
fn credentials_need_tls_or_loopback() {
    let lan: std::net::IpAddr = "192.0.2.7".parse().expect("ip");
    let local: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    let local6: std::net::IpAddr = "::1".parse().expect("ip");
    assert!(!secure_enough(false, lan, false));
    assert!(secure_enough(true, lan, false));
    assert!(secure_enough(false, lan, true));
    assert!(secure_enough(false, local, false));
    assert!(secure_enough(false, local6, false));
}

fn with_caps(caps: &str) -> State {
    let mut st = registered_state();
    run(&mut st, &format!("CAP REQ :{caps}"));
    st
}

#[test]
fn tags_travel_only_from_clients_that_enabled_message_tags() {
    let line = "@+draft/reply=5;time=x PRIVMSG #a :hi";
    let plain = run(&mut registered_state(), line);
    assert!(matches!(&plain[..], [Step::Send(Command::Say { tags, .. })] if tags.is_empty()));
    let tagged = run(&mut with_caps("message-tags"), line);
    assert!(matches!(
        &tagged[..],
        [Step::Send(Command::Say { tags, .. })]
            if tags == &vec![("+draft/reply".to_string(), "5".to_string())]
    ));
    let big = format!("@+a={} PRIVMSG #a :hi", "x".repeat(5000));
    let steps = run(&mut with_caps("message-tags"), &big);
    assert!(shown(&steps[0]).contains(" 417 "), "{steps:?}");
}

#[test]
fn tagmsg_and_setname() {
    let mut st = with_caps("message-tags");
    assert_eq!(
        run(&mut st, "@+typing=active TAGMSG #a,bob"),
        vec![
            Step::Send(Command::TagMsg {
                target: SayTarget::Room("#a".into()),
                tags: vec![("+typing".into(), "active".into())],
            }),
            Step::Send(Command::TagMsg {
                target: SayTarget::Nick("bob".into()),
                tags: vec![("+typing".into(), "active".into())],
            }),
        ]
    );
    assert!(shown(&run(&mut st, "TAGMSG")[0]).contains(" 461 "));
    assert!(shown(&run(&mut st, "TAGMSG a,b,c,d,e")[0]).contains(" 407 "));
    assert_eq!(
        run(&mut st, "SETNAME :New Name"),
        vec![Step::Send(Command::Setname("New Name".into()))]
    );
    assert!(shown(&run(&mut st, "SETNAME")[0]).contains(" 461 "));
}

#[test]
fn line_limits_count_tags_and_message_apart() {
    let tags = format!("@a={} ", "v".repeat(MAX_TAG_BYTES - 4));
    assert_eq!(tags.len(), MAX_TAG_BYTES);
    assert!(!too_long(format!("{tags}PING x").as_bytes(), 510));
    assert!(too_long(format!("@b{tags}PING x").as_bytes(), 510));
    assert!(!too_long("P".repeat(510).as_bytes(), 510));
    assert!(too_long("P".repeat(511).as_bytes(), 510));
    assert!(too_long(
        format!("@a=b {}", "P".repeat(511)).as_bytes(),
        510
    ));
}

#[test]
fn invalid_utf8_is_refused_naming_the_command() {
    let step = not_utf8(b"PRIVMSG #a :caf\xff");
    assert!(
        shown(&step).starts_with(":chatroom FAIL PRIVMSG INVALID_UTF8 :"),
        "{step:?}"
    );
    assert_eq!(
        not_utf8(b"\xff\xfe"),
        Step::Note(Local::fail(
            "*",
            "INVALID_UTF8",
            &[],
            "Message rejected: it is not valid UTF-8"
        ))
    );
}

#[test]
fn labels_need_the_capability_registration_and_a_short_label() {
    let msg = |l: &str| Message::parse(l).expect("parses");
    let st = with_caps("labeled-response batch");
    assert_eq!(st.label_of(&msg("@label=x1 PING a")), Some("x1".into()));
    // The spec makes batch a requirement for labels.
    let no_batch = with_caps("labeled-response");
    assert_eq!(no_batch.label_of(&msg("@label=x1 PING a")), None);
    assert_eq!(st.label_of(&msg("PING a")), None);
    let long = format!("@label={} PING a", "l".repeat(MAX_LABEL + 1));
    assert_eq!(st.label_of(&msg(&long)), None);
    assert_eq!(registered_state().label_of(&msg("@label=x1 PING a")), None);
    let mut early = State::default();
    run(&mut early, "CAP REQ labeled-response");
    assert_eq!(early.label_of(&msg("@label=x1 PING a")), None);
}

#[test]
fn search_takes_a_room_and_words_with_or_without_a_colon() {
    let mut st = registered_state();
    let want = |room: &str, words: &str| {
        vec![Step::Search {
            room: room.into(),
            words: words.into(),
        }]
    };
    assert_eq!(
        run(&mut st, "SEARCH #lobby :pizza \"OR\" *"),
        want("#lobby", "pizza \"OR\" *")
    );
    assert_eq!(
        run(&mut st, "SEARCH #lobby pizza box"),
        want("#lobby", "pizza box")
    );
    for bad in [
        "SEARCH",
        "SEARCH #lobby",
        "SEARCH #lobby :",
        "SEARCH #lobby :   ",
    ] {
        let steps = run(&mut st, bad);
        assert_eq!(steps.len(), 1, "{bad}");
        assert!(shown(&steps[0]).contains(" 461 "), "{bad}: {steps:?}");
    }
    // Before registration it is refused like any other command.
    let mut fresh = State::default();
    let steps = run(&mut fresh, "SEARCH #lobby :x");
    assert!(shown(&steps[0]).contains(" 451 "), "{steps:?}");
}

// ------------------------------------------------------------ accounts

fn sasl_state() -> State {
    let mut st = State::default();
    run(&mut st, "CAP LS 302");
    run(&mut st, "CAP REQ :sasl");
    st
}

#[test]
fn authenticate_works_without_requesting_the_capability() {
    // Clients are told to CAP REQ sasl first, but one that goes straight to
    // AUTHENTICATE (irctest 0.1.2 does) is served all the same.
    let mut st = State::default();
    let steps = run(&mut st, "AUTHENTICATE PLAIN");
    assert_eq!(shown(&steps[0]), "AUTHENTICATE +\r\n");
}

#[test]
fn authenticate_starts_reassembles_and_hands_over_one_payload() {
    use crate::irc::login::Ask;
    use crate::irc::sasl::Mechanism;
    let mut st = sasl_state();
    let steps = run(&mut st, "AUTHENTICATE plain");
    assert_eq!(shown(&steps[0]), "AUTHENTICATE +\r\n");
    let chunk = "A".repeat(400);
    assert_eq!(run(&mut st, &format!("AUTHENTICATE {chunk}")), vec![]);
    let steps = run(&mut st, "AUTHENTICATE QUJD");
    assert_eq!(
        steps,
        vec![Step::Account(Ask::Sasl {
            mechanism: Mechanism::Plain,
            payload: format!("{chunk}QUJD"),
        })]
    );
    // The exchange is over: the next AUTHENTICATE starts a new one.
    let steps = run(&mut st, "AUTHENTICATE EXTERNAL");
    assert_eq!(shown(&steps[0]), "AUTHENTICATE +\r\n");
    assert_eq!(
        run(&mut st, "AUTHENTICATE +"),
        vec![Step::Account(Ask::Sasl {
            mechanism: Mechanism::External,
            payload: String::new(),
        })]
    );
}

#[test]
fn authenticate_refusals() {
    let mut st = sasl_state();
    run(&mut st, "AUTHENTICATE PLAIN");
    let steps = run(&mut st, &format!("AUTHENTICATE {}", "A".repeat(401)));
    assert!(shown(&steps[0]).starts_with(":chatroom 905 * :"));
    run(&mut st, "AUTHENTICATE PLAIN");
    let steps = run(&mut st, "AUTHENTICATE *");
    assert!(shown(&steps[0]).starts_with(":chatroom 906 * :"));
    let steps = run(&mut st, "AUTHENTICATE DIGEST-MD5");
    assert_eq!(
        shown(&steps[0]),
        ":chatroom 908 * PLAIN,EXTERNAL :are available SASL mechanisms\r\n"
    );
    assert!(shown(&steps[1]).starts_with(":chatroom 904 * :"));
    // Too much in all (over max_sasl_bytes, 4096 by default): 905.
    run(&mut st, "AUTHENTICATE PLAIN");
    let chunk = "A".repeat(400);
    let mut last = Vec::new();
    for _ in 0..11 {
        last = run(&mut st, &format!("AUTHENTICATE {chunk}"));
    }
    assert!(shown(&last[0]).starts_with(":chatroom 905 * :"), "{last:?}");
    // Logged in already: 907.
    st.account = Some("bob".into());
    let steps = run(&mut st, "AUTHENTICATE PLAIN");
    assert!(shown(&steps[0]).starts_with(":chatroom 907 * :"));
}

#[test]
fn nickserv_and_register_become_account_requests() {
    use crate::irc::login::Ask;
    use crate::irc::nickserv::Request;
    let mut st = registered_state();
    assert_eq!(
        run(&mut st, "PRIVMSG nickserv :IDENTIFY pw"),
        vec![Step::Account(Ask::NickServ(Request::Identify {
            account: None,
            password: "pw".into()
        }))]
    );
    assert_eq!(
        run(&mut st, "NS CERT LIST"),
        vec![Step::Account(Ask::NickServ(Request::CertList))]
    );
    // Never an answer to a NOTICE, and never relayed to anyone.
    assert_eq!(run(&mut st, "NOTICE NickServ :IDENTIFY pw"), vec![]);
    assert_eq!(
        run(&mut st, "REGISTER * * some-password"),
        vec![Step::Account(Ask::Register {
            account: None,
            password: "some-password".into()
        })]
    );
    // Before registration too (before-connect).
    let mut early = State::default();
    assert_eq!(
        run(&mut early, "REGISTER bob * pw"),
        vec![Step::Account(Ask::Register {
            account: Some("bob".into()),
            password: "pw".into()
        })]
    );
    let steps = run(&mut st, "VERIFY bob 123");
    assert!(shown(&steps[0]).starts_with(":chatroom FAIL VERIFY INVALID_CODE bob :"));
}
