//! A framed reader that holds no buffer while its connection is idle: each
//! read lands in a buffer on the stack of the poll that does it, and only
//! what the decoder has not consumed yet — a partial line, or lines not yet
//! handed out — is kept on the heap, in a buffer let go as soon as it is
//! empty again.
//!
//! It replaces `tokio_util`'s `FramedRead`, whose buffer (512 bytes at the
//! least, 8 KiB by default) every idle connection kept for its lifetime
//! (measured with `chatroom bench idle`). Reads are as large as before (up
//! to [`READ_CHUNK`] bytes per call), so a busy connection costs the same
//! number of syscalls.
//!
//! It must not interpret the bytes: framing is the decoder's job.

use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use chatroom_proto::framing::Decode;
use futures_util::Stream;
use tokio::io::{AsyncRead, ReadBuf};

/// The most read in one call. It lives on the poller's stack, never in the
/// connection's state.
pub const READ_CHUNK: usize = 8 * 1024;

/// Frames from `io` with `decoder`, read lazily (see the module docs).
pub struct FrameReader<R, D> {
    io: R,
    decoder: D,
    /// Bytes read and not decoded yet; no allocation while empty.
    pending: BytesMut,
    eof: bool,
}

impl<R, D> FrameReader<R, D> {
    pub fn new(io: R, decoder: D) -> FrameReader<R, D> {
        FrameReader {
            io,
            decoder,
            pending: BytesMut::new(),
            eof: false,
        }
    }

    /// The reader itself (for protocols that read raw bytes after framing).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.io
    }

    /// Bytes read and not yet decoded.
    pub fn pending(&self) -> &BytesMut {
        &self.pending
    }

    /// Gives back the buffer's storage once nothing is left in it. Frames
    /// already handed out keep their own part of it alive as long as the
    /// session holds them.
    fn release_if_empty(&mut self) {
        if self.pending.is_empty() && self.pending.capacity() > 0 {
            self.pending = BytesMut::new();
        }
    }
}

impl<R, D> Stream for FrameReader<R, D>
where
    R: AsyncRead + Unpin,
    D: Decode + Unpin,
    D::Error: From<std::io::Error>,
{
    type Item = Result<D::Item, D::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.eof {
                let frame = this.decoder.decode_eof(&mut this.pending);
                this.release_if_empty();
                return Poll::Ready(frame.transpose());
            }
            if !this.pending.is_empty() {
                let frame = this.decoder.decode(&mut this.pending);
                this.release_if_empty();
                match frame {
                    Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                    Ok(None) => {}
                    Err(e) => return Poll::Ready(Some(Err(e))),
                }
            }
            let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut rb = ReadBuf::uninit(&mut chunk);
            if let Err(e) = ready!(Pin::new(&mut this.io).poll_read(cx, &mut rb)) {
                return Poll::Ready(Some(Err(e.into())));
            }
            let got = rb.filled();
            if got.is_empty() {
                this.eof = true;
                continue;
            }
            // Exactly what arrived (plus what was pending): a line read
            // whole costs one allocation of its own size, freed with it.
            this.pending.extend_from_slice(got);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatroom_proto::framing::{Frame, LineCodec};
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn lines_across_reads_and_no_buffer_between() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut frames = FrameReader::new(rx, LineCodec::new(100));
        tx.write_all(b"one\r\ntw").await.expect("write");
        let first = frames.next().await.expect("frame").expect("ok");
        assert_eq!(first, Frame::Line(BytesMut::from(&b"one"[..])));
        // The partial line is held until its end arrives.
        tx.write_all(b"o\n").await.expect("write");
        let second = frames.next().await.expect("frame").expect("ok");
        assert_eq!(second, Frame::Line(BytesMut::from(&b"two"[..])));
        assert_eq!(frames.pending().capacity(), 0, "idle: no buffer held");
        tx.write_all(b"last").await.expect("write");
        drop(tx);
        let last = frames.next().await.expect("frame").expect("ok");
        assert_eq!(last, Frame::Line(BytesMut::from(&b"last"[..])));
        assert!(frames.next().await.is_none());
    }

    #[tokio::test]
    async fn an_oversized_line_is_refused_across_reads() {
        let (mut tx, rx) = tokio::io::duplex(16);
        let mut frames = FrameReader::new(rx, LineCodec::new(8));
        let writer = tokio::spawn(async move {
            tx.write_all(b"0123456789012345678901234567890123456789\nok\n")
                .await
                .expect("write");
        });
        assert_eq!(frames.next().await.expect("f").expect("ok"), Frame::TooLong);
        assert_eq!(
            frames.next().await.expect("f").expect("ok"),
            Frame::Line(BytesMut::from(&b"ok"[..]))
        );
        writer.await.expect("writer");
        assert!(frames.next().await.is_none());
        assert_eq!(frames.pending().capacity(), 0);
    }
}
