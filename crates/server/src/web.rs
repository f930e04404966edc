//! The web listener's connections: HTTP/1.1 (hyper) that answers requests
//! for the browser app's files and hands a WebSocket upgrade at `/irc` (or
//! `/`) to the IRC edge, as a stream of lines (`websocket.rs`).
//!
//! One TCP (or TLS) connection is one admitted connection: it is counted
//! against the per-address limits from the accept, and while it speaks HTTP
//! it also holds a handshake permit, like a TLS handshake (the caller holds
//! both). Each request's headers must arrive within
//! `web.handshake_timeout_secs`, which also closes an idle keep-alive
//! connection.
//!
//! It must not build answers for files (`chatroom-web` does, purely) nor
//! interpret IRC.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use chatroom_config::{Config, Web as WebConfig};
use chatroom_proto::websocket::origin_allowed;
use chatroom_web::IRC_PATH;

use super::websocket::{self, Mode, WsStream};

/// A connection that became IRC over WebSocket.
pub type IrcSocket = WsStream<TokioIo<Upgraded>>;

/// The upgrade a request asked for, kept for after its 101 answer is sent.
type Pending = Arc<Mutex<Option<(OnUpgrade, Mode)>>>;

/// Serves HTTP on `io` until the client closes, stays idle too long, or
/// upgrades to IRC over WebSocket: then the WebSocket, ready for the IRC
/// edge. `None` when the connection ended as plain HTTP (or failed: logged).
pub async fn serve<S>(io: S, cfg: &Arc<Config>, peer: SocketAddr) -> Option<IrcSocket>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let pending: Pending = Arc::default();
    let service = {
        let (cfg, pending) = (cfg.clone(), pending.clone());
        service_fn(move |req: Request<Incoming>| {
            let resp = answer(req, &cfg.web, &pending);
            async move { Ok::<_, Infallible>(resp.map(Full::new)) }
        })
    };
    let limit = Duration::from_secs(cfg.web.handshake_timeout_secs);
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limit)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    if let Err(e) = conn.await {
        tracing::debug!(%peer, "web: connection ended: {e}");
    }
    let (upgrade, mode) = pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()?;
    match tokio::time::timeout(limit, upgrade).await {
        Ok(Ok(upgraded)) => Some(websocket::start(TokioIo::new(upgraded), mode, &cfg.web).await),
        Ok(Err(e)) => {
            tracing::info!(%peer, "WebSocket upgrade failed: {e}");
            None
        }
        Err(_) => {
            tracing::info!(%peer, "WebSocket upgrade timed out after {limit:?}");
            None
        }
    }
}

/// Whether a header lists `token` (comma-separated, any case).
fn lists(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The answer to one request: a WebSocket upgrade at the IRC path (the
/// upgrade itself is left in `pending` for [`serve`]), else a file.
fn answer(mut req: Request<Incoming>, cfg: &WebConfig, pending: &Pending) -> Response<Bytes> {
    let h = req.headers();
    let wants_ws =
        lists(h, header::UPGRADE, "websocket") && lists(h, header::CONNECTION, "upgrade");
    let path = req.uri().path();
    if !wants_ws || req.method() != Method::GET {
        let path = req.uri().path_and_query().map_or(path, |p| p.as_str());
        return chatroom_web::respond(req.method(), path, h);
    }
    if path != IRC_PATH && path != "/" {
        return chatroom_web::plain(StatusCode::NOT_FOUND, "IRC over WebSocket is at /irc\n");
    }
    let text = |name| h.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    if text(header::SEC_WEBSOCKET_VERSION) != Some("13") {
        let mut resp = chatroom_web::plain(
            StatusCode::UPGRADE_REQUIRED,
            "only WebSocket version 13 is spoken here\n",
        );
        resp.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return resp;
    }
    let Some(key) = text(header::SEC_WEBSOCKET_KEY) else {
        return chatroom_web::plain(StatusCode::BAD_REQUEST, "Sec-WebSocket-Key is missing\n");
    };
    let accept = derive_accept_key(key.as_bytes());
    if !origin_allowed(
        text(header::ORIGIN),
        text(header::HOST),
        &cfg.allowed_origins,
    ) {
        return chatroom_web::plain(
            StatusCode::FORBIDDEN,
            "pages from this origin may not connect here (web.allowed_origins)\n",
        );
    }
    let (mode, protocol) = websocket::choose_protocol(
        h.get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let mut resp = Response::new(Bytes::new());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let rh = resp.headers_mut();
    rh.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    rh.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        rh.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Some(p) = protocol {
        rh.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
    }
    let upgrade = hyper::upgrade::on(&mut req);
    *pending.lock().unwrap_or_else(PoisonError::into_inner) = Some((upgrade, mode));
    resp
}
