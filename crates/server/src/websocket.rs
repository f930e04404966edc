//! IRC over WebSocket, as the IRCv3 WebSocket specification describes it:
//! each WebSocket message carries exactly one IRC line, without its CR LF,
//! in either the `text.ircv3.net` (UTF-8 text messages) or the
//! `binary.ircv3.net` (binary messages) subprotocol.
//!
//! This module turns an upgraded WebSocket into a plain byte stream of
//! CR LF-terminated lines ([`WsStream`], `AsyncRead + AsyncWrite`), so the
//! IRC edge and the connection driver run unchanged on top of it, with the
//! same line limits, flood control and output queue as on TCP. The HTTP
//! upgrade before it (origin check, subprotocol) is the web listener's
//! (`web.rs`); [`start`] begins the WebSocket protocol on the upgraded
//! connection.
//!
//! It must not interpret IRC: it only maps messages to lines and back
//! (the mapping itself is `chatroom_proto::websocket`, pure and tested
//! there; this file does the I/O around it).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use chatroom_config::Web as WebConfig;
use chatroom_proto::websocket as ws_lines;

/// The subprotocol names of the IRCv3 WebSocket specification.
pub const TEXT_PROTOCOL: &str = "text.ircv3.net";
pub const BINARY_PROTOCOL: &str = "binary.ircv3.net";

/// Which kind of WebSocket message carries the lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Text messages: lines sent to the client must be valid UTF-8.
    Text,
    /// Binary messages: lines go as they are.
    Binary,
}

/// Output lines queued but not yet handed to the WebSocket beyond this many
/// bytes make writes wait (the connection's own queue limit applies above
/// this; this only bounds the adapter).
const PENDING_OUT: usize = 64 * 1024;

/// The subprotocol for what the client offered in `Sec-WebSocket-Protocol`:
/// the first of ours in the client's order (RFC 6455: the client lists them
/// by preference); text, and no header in the answer, when it offers none.
pub fn choose_protocol<'a>(offered: impl Iterator<Item = &'a str>) -> (Mode, Option<&'static str>) {
    let first = offered
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_ascii_lowercase())
        .find(|p| p == TEXT_PROTOCOL || p == BINARY_PROTOCOL);
    match first.as_deref() {
        Some(BINARY_PROTOCOL) => (Mode::Binary, Some(BINARY_PROTOCOL)),
        Some(_) => (Mode::Text, Some(TEXT_PROTOCOL)),
        None => (Mode::Text, None),
    }
}

/// Starts the WebSocket protocol on a connection whose HTTP upgrade is done
/// (the web listener did it: `web.rs`).
pub async fn start<S>(io: S, mode: Mode, cfg: &WebConfig) -> WsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = WebSocketConfig::default()
        // Eagerly allocated per connection: chat lines are short.
        .read_buffer_size(4096)
        // The connection driver flushes after each batch of lines, which
        // writes this buffer out; it only gathers the lines of one batch.
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(PENDING_OUT * 4)
        .max_message_size(Some(cfg.max_message_bytes))
        .max_frame_size(Some(cfg.max_message_bytes));
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
    WsStream::new(ws, mode)
}

/// An upgraded WebSocket seen as a stream of CR LF-terminated lines.
pub struct WsStream<S> {
    ws: WebSocketStream<S>,
    mode: Mode,
    /// Received lines (with CR LF added) not yet read.
    input: BytesMut,
    /// Written bytes not yet sent as messages (an incomplete last line
    /// waits here for its end).
    output: BytesMut,
    /// The peer closed, or the socket failed: reads see end of file.
    eof: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsStream<S> {
    fn new(ws: WebSocketStream<S>, mode: Mode) -> WsStream<S> {
        WsStream {
            ws,
            mode,
            input: BytesMut::new(),
            output: BytesMut::new(),
            eof: false,
        }
    }

    /// The subprotocol in use.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Hands every complete line of `output` to the WebSocket, one message
    /// each. Pending while the WebSocket cannot take more.
    fn send_lines(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.output.contains(&b'\n') {
            // Ready first: a line taken off `output` must go out.
            ready!(Pin::new(&mut self.ws).poll_ready(cx)).map_err(io::Error::other)?;
            let Some(line) = ws_lines::next_line(&mut self.output) else {
                break;
            };
            let msg = match self.mode {
                Mode::Binary => Message::Binary(line),
                Mode::Text => Message::Text(text(line)),
            };
            Pin::new(&mut self.ws)
                .start_send(msg)
                .map_err(io::Error::other)?;
        }
        Poll::Ready(Ok(()))
    }

    /// Takes in one received message as lines.
    fn take(&mut self, payload: &[u8]) {
        ws_lines::message_to_lines(payload, &mut self.input);
    }
}

/// Text messages must be UTF-8. The server speaks UTF-8, but a line relayed
/// from a TCP client could hold other bytes: those are replaced, not sent.
fn text(line: Bytes) -> Utf8Bytes {
    Utf8Bytes::try_from(line.clone())
        .unwrap_or_else(|_| Utf8Bytes::from(String::from_utf8_lossy(&line).into_owned()))
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = &mut *self;
        while me.input.is_empty() && !me.eof {
            match ready!(Pin::new(&mut me.ws).poll_next(cx)) {
                Some(Ok(Message::Text(t))) => me.take(t.as_bytes()),
                Some(Ok(Message::Binary(b))) => me.take(&b),
                // Pings are answered by the WebSocket layer itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_))) | None => me.eof = true,
                Some(Err(e)) => {
                    me.eof = true;
                    return Poll::Ready(Err(io::Error::other(e)));
                }
            }
        }
        let n = me.input.len().min(buf.remaining());
        buf.put_slice(&me.input[..n]);
        me.input.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = &mut *self;
        if me.output.len() >= PENDING_OUT {
            ready!(me.send_lines(cx))?;
            if me.output.len() >= PENDING_OUT {
                // A single unterminated "line" this long is not IRC.
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "output line too long for a WebSocket message",
                )));
            }
        }
        me.output.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = &mut *self;
        ready!(me.send_lines(cx))?;
        Pin::new(&mut me.ws)
            .poll_flush(cx)
            .map_err(io::Error::other)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = &mut *self;
        ready!(me.send_lines(cx))?;
        Pin::new(&mut me.ws)
            .poll_close(cx)
            .map_err(io::Error::other)
    }
}
