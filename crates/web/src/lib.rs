//! The browser app as the web listener serves it: its files, embedded in
//! the binary at build time (`build.rs` makes a brotli and a gzip version of
//! each text file and names every version by its digest), and the answer to
//! an HTTP request for one of them: content type, the encoding the browser
//! prefers, entity tags and `304 Not Modified`, and the headers that keep
//! the page to itself (a strict Content-Security-Policy among them).
//!
//! Pure: no sockets, no files at run time. The runtime's web listener
//! (`chatroom-server`) reads requests, hands WebSocket upgrades at
//! [`IRC_PATH`] to the IRC edge itself, and asks [`respond`] for the rest.
//! Written here rather than taken from a static-file crate because the files
//! are not on disk and every answer is precomputed: what is left is choosing
//! one of three byte slices and a few headers.
#![deny(unsafe_code)]

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

/// Where IRC over WebSocket is served (also at `/`, for IRC clients that
/// take only a host and a port: a WebSocket upgrade is never a page request).
pub const IRC_PATH: &str = "/irc";

/// What the app may do: its own scripts, styles and images, WebSocket
/// connections to this server (`'self'` covers `ws:`/`wss:` of the same
/// host in current browsers; the schemes are listed for the older ones
/// and for pages opened with `?server=`), nothing inline, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; \
     img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; \
     base-uri 'none'; frame-ancestors 'none'; form-action 'self'; manifest-src 'self'; \
     worker-src 'self'";

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// As the browser asks for it (`/app.js`).
    pub path: &'static str,
    pub content_type: &'static str,
    /// Hex of the first 12 bytes of the SHA-256 of `identity`.
    pub digest: &'static str,
    pub identity: &'static [u8],
    pub brotli: Option<&'static [u8]>,
    pub gzip: Option<&'static [u8]>,
}

impl Asset {
    const fn new(
        path: &'static str,
        content_type: &'static str,
        digest: &'static str,
        identity: &'static [u8],
        brotli: Option<&'static [u8]>,
        gzip: Option<&'static [u8]>,
    ) -> Asset {
        Asset {
            path,
            content_type,
            digest,
            identity,
            brotli,
            gzip,
        }
    }
}

/// Every file of the app, sorted by path.
pub static ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The file served for `path` (`/` is `/index.html`; a query is ignored).
pub fn asset(path: &str) -> Option<&'static Asset> {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let path = if path == "/" { "/index.html" } else { path };
    ASSETS
        .binary_search_by(|a| a.path.cmp(path))
        .ok()
        .map(|i| &ASSETS[i])
}

/// A content coding the browser can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Brotli,
    Gzip,
    Identity,
}

impl Coding {
    fn suffix(self) -> &'static str {
        match self {
            Coding::Brotli => "-br",
            Coding::Gzip => "-gz",
            Coding::Identity => "",
        }
    }
}

/// Whether `Accept-Encoding` lets `name` through: listed (or `*`) with a
/// weight above zero (RFC 9110 §12.5.3).
fn accepts(accept_encoding: &str, name: &str) -> bool {
    let mut star = None;
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let weight = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if coding.eq_ignore_ascii_case(name) {
            return weight > 0.0;
        }
        if coding == "*" {
            star = Some(weight > 0.0);
        }
    }
    star.unwrap_or(false)
}

/// The smallest version of `asset` that `Accept-Encoding` allows.
pub fn choose(asset: &Asset, accept_encoding: Option<&str>) -> (Coding, &'static [u8]) {
    let ae = accept_encoding.unwrap_or("");
    match (asset.brotli, asset.gzip) {
        (Some(b), _) if accepts(ae, "br") => (Coding::Brotli, b),
        (_, Some(g)) if accepts(ae, "gzip") || accepts(ae, "x-gzip") => (Coding::Gzip, g),
        _ => (Coding::Identity, asset.identity),
    }
}

/// The entity tag of one version: versions differ byte for byte, so each
/// has its own strong tag (RFC 9110 §8.8.3.3).
fn etag(asset: &Asset, coding: Coding) -> String {
    format!("\"{}{}\"", asset.digest, coding.suffix())
}

/// Whether `If-None-Match` names the version about to be sent, or another
/// version of the same file (weak comparison: the content is the same).
fn not_modified(asset: &Asset, if_none_match: &str) -> bool {
    if_none_match.split(',').any(|t| {
        let t = t.trim();
        let t = t.strip_prefix("W/").unwrap_or(t);
        t == "*"
            || t.strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .and_then(|t| t.strip_prefix(asset.digest))
                .is_some_and(|rest| ["", "-br", "-gz"].contains(&rest))
    })
}

/// Headers every answer of the web listener carries.
pub fn common_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
}

/// A short plain-text answer (errors).
pub fn plain(status: StatusCode, text: &'static str) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from_static(text.as_bytes()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    common_headers(h);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The answer to a request that is not a WebSocket upgrade.
pub fn respond(method: &Method, path: &str, headers: &HeaderMap) -> Response<Bytes> {
    if method != Method::GET && method != Method::HEAD {
        let mut resp = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD here\n");
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    if path.split('?').next() == Some(IRC_PATH) {
        let mut resp = plain(
            StatusCode::UPGRADE_REQUIRED,
            "IRC over WebSocket is served here: open a WebSocket (text.ircv3.net or binary.ircv3.net)\n",
        );
        resp.headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        return resp;
    }
    let Some(asset) = asset(path) else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let (coding, body) = choose(asset, text(header::ACCEPT_ENCODING));
    let fresh = text(header::IF_NONE_MATCH).is_some_and(|inm| not_modified(asset, inm));
    let mut resp = if fresh {
        let mut r = Response::new(Bytes::new());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else if method == Method::HEAD {
        let mut r = Response::new(Bytes::new());
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        r
    } else {
        Response::new(Bytes::from_static(body))
    };
    let h = resp.headers_mut();
    common_headers(h);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    if let Ok(tag) = HeaderValue::from_str(&etag(asset, coding)) {
        h.insert(header::ETAG, tag);
    }
    // File names carry no version: always ask, and a 304 is cheap.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    match coding {
        Coding::Brotli => {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        }
        Coding::Gzip => {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        Coding::Identity => {}
    }
    resp
}

#[cfg(test)]
mod tests;
