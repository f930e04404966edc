//! The raw relay: the reference for workload B's saturation figure in
//! docs/perf.md ("a chat server can relay at most this fast here"). It
//! speaks just enough IRC for `chatroom bench` (001 on USER, 366 on JOIN,
//! PONG on PING) and copies every PRIVMSG line, with a source prefix, to
//! every other connection: no parsing past the command word, no rooms, no
//! nicknames, no history, no limits. Same runtime as the server (tokio's
//! default) and the same write gathering (everything queued, one write).
//!
//! Not a server anyone should run: it trusts every client and buffers
//! without bound. Loopback only.
//!
//!   cargo run --release -p chatroom-bench --example raw_relay -- 127.0.0.1:16670

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

type Peers = Arc<Mutex<Vec<(u64, UnboundedSender<Bytes>)>>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr: std::net::SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:16670".into())
        .parse()?;
    anyhow::ensure!(addr.ip().is_loopback(), "loopback addresses only");
    let listener = TcpListener::bind(addr).await?;
    let peers: Peers = Arc::default();
    for id in 0u64.. {
        let (sock, _) = listener.accept().await?;
        sock.set_nodelay(true)?;
        let (mut rd, mut wr) = sock.into_split();
        let (tx, mut rx) = unbounded_channel::<Bytes>();
        tokio::spawn(async move {
            let mut out = BytesMut::new();
            while let Some(first) = rx.recv().await {
                out.extend_from_slice(&first);
                while out.len() < 64 << 10 {
                    match rx.try_recv() {
                        Ok(more) => out.extend_from_slice(&more),
                        Err(_) => break,
                    }
                }
                if wr.write_all(&out).await.is_err() {
                    break;
                }
                out.clear();
            }
        });
        let peers = peers.clone();
        tokio::spawn(async move {
            let mut buf = BytesMut::with_capacity(16 << 10);
            let mut joined = false;
            loop {
                buf.reserve(16 << 10);
                if !matches!(rd.read_buf(&mut buf).await, Ok(n) if n > 0) {
                    break;
                }
                while let Some(end) = memchr::memchr(b'\n', &buf) {
                    let line = buf.split_to(end + 1);
                    let reply = |s: String| tx.send(Bytes::from(s)).is_ok();
                    if line.starts_with(b"PRIVMSG ") {
                        let mut relayed = BytesMut::with_capacity(line.len() + 8);
                        relayed.extend_from_slice(b":x!x@x ");
                        relayed.extend_from_slice(&line);
                        let relayed = relayed.freeze();
                        let peers = peers.lock().unwrap_or_else(|e| e.into_inner());
                        for (other, q) in peers.iter() {
                            if *other != id {
                                let _ = q.send(relayed.clone());
                            }
                        }
                    } else if line.starts_with(b"USER ") {
                        reply(":relay 001 x :welcome\r\n".into());
                    } else if let Some(room) = line.strip_prefix(b"JOIN ") {
                        let room = String::from_utf8_lossy(room.trim_ascii());
                        reply(format!(":relay 366 x {room} :End of /NAMES list\r\n"));
                        if !joined {
                            joined = true;
                            peers
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push((id, tx.clone()));
                        }
                    } else if let Some(token) = line.strip_prefix(b"PING ") {
                        let token = String::from_utf8_lossy(token.trim_ascii());
                        reply(format!("PONG {token}\r\n"));
                    }
                }
            }
            peers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|(other, _)| *other != id);
        });
    }
    Ok(())
}
