//! Microbenchmarks of the wire codecs on the delivery path: IRC parsing,
//! IRC and line-protocol rendering of a room message (first render and the
//! cached path every further recipient takes), and line framing.
//!
//! Measures only; asserts nothing about speed. Run with `cargo bench`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::{BufMut, BytesMut};
use chatroom_proto::framing::Decode;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use chatroom_config::Config;
use chatroom_core::MsgKind;
use chatroom_core::event::{Event, MsgTarget, UserInfo};
use chatroom_proto::Renderer;
use chatroom_proto::framing::LineCodec;
use chatroom_proto::irc::IrcRenderer;
use chatroom_proto::irc::message::Message;
use chatroom_proto::line;
use chatroom_proto::{Envelope, Shared};

const TEXT: &str = "bqzz 17 4242 123456789012 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

fn user(nick: &str) -> Arc<UserInfo> {
    Arc::new(UserInfo {
        nick: nick.into(),
        user: nick.into(),
        realname: nick.into(),
        host: "127.0.0.1".into(),
        account: None,
        bot: false,
    })
}

fn message() -> Shared {
    Envelope::new(Event::Message {
        id: 1,
        time: SystemTime::now(),
        from: user("alice"),
        to: MsgTarget::Room("#bench".into()),
        kind: MsgKind::Say,
        text: TEXT.into(),
        tags: Vec::new(),
    })
}

/// Renderers that have seen their own welcome and join, as on a live
/// connection (they render differently before that).
fn ready<R: Renderer>(mut r: R) -> R {
    let me = user("bob");
    let mut sink = BytesMut::new();
    r.render(
        &Envelope::new(Event::Welcome {
            nick: "bob".into(),
            user: me.clone(),
        }),
        &mut sink,
    );
    r.render(
        &Envelope::new(Event::Joined {
            room: "#bench".into(),
            who: me,
        }),
        &mut sink,
    );
    r
}

fn irc(c: &mut Criterion) {
    let line = format!(":alice!alice@127.0.0.1 PRIVMSG #bench :{TEXT}");
    let mut g = c.benchmark_group("irc");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_privmsg", |b| {
        b.iter(|| Message::parse(black_box(&line)))
    });
    let cfg = Config::default();
    let mut r = ready(IrcRenderer::new(&cfg));
    let mut out = BytesMut::with_capacity(4096);
    g.bench_function("render_privmsg_first", |b| {
        b.iter(|| {
            out.clear();
            r.render(&message(), &mut out);
            black_box(out.len())
        })
    });
    let shared = message();
    r.render(&shared, &mut out);
    g.bench_function("render_privmsg_cached", |b| {
        b.iter(|| {
            out.clear();
            r.render(black_box(&shared), &mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

fn line_protocol(c: &mut Criterion) {
    let mut g = c.benchmark_group("line");
    let cfg = Config::default();
    let mut r = ready(line::renderer(&cfg));
    let mut out = BytesMut::with_capacity(4096);
    g.throughput(Throughput::Elements(1));
    g.bench_function("render_message_first", |b| {
        b.iter(|| {
            out.clear();
            r.render(&message(), &mut out);
            black_box(out.len())
        })
    });
    let shared = message();
    r.render(&shared, &mut out);
    g.bench_function("render_message_cached", |b| {
        b.iter(|| {
            out.clear();
            r.render(black_box(&shared), &mut out);
            black_box(out.len())
        })
    });
    // Framing: 64 lines arriving in one read.
    let mut input = BytesMut::new();
    for _ in 0..64 {
        input.put_slice(TEXT.as_bytes());
        input.put_slice(b"\r\n");
    }
    g.throughput(Throughput::Elements(64));
    g.bench_function("frame_64_lines", |b| {
        b.iter(|| {
            let mut codec = LineCodec::new(4096);
            let mut buf = input.clone();
            let mut n = 0;
            while let Ok(Some(_)) = codec.decode(&mut buf) {
                n += 1;
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, irc, line_protocol);
criterion_main!(benches);
