//! What the web listener answers for the app's files, on the files that are
//! really embedded (so these also check what `build.rs` made of them).

use super::*;
use std::io::Read;

fn get(path: &str, headers: &[(&'static str, &str)]) -> Response<Bytes> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(*k, HeaderValue::from_str(v).expect("header"));
    }
    respond(&Method::GET, path, &map)
}

fn header<'a>(r: &'a Response<Bytes>, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

#[test]
fn the_root_is_the_app_page_with_its_policy() {
    let r = get("/", &[]);
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(
        header(&r, "content-security-policy"),
        Some(CONTENT_SECURITY_POLICY)
    );
    assert_eq!(header(&r, "x-content-type-options"), Some("nosniff"));
    assert!(String::from_utf8_lossy(r.body()).contains("<html"));
    // The query string (`?server=...`) does not change the file.
    assert_eq!(get("/?server=ws://x/", &[]).body(), r.body());
}

#[test]
fn every_version_of_every_file_is_the_same_content() {
    assert!(!ASSETS.is_empty());
    for a in ASSETS {
        use sha2::Digest;
        let digest: String = sha2::Sha256::digest(a.identity)[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(digest, a.digest, "{}", a.path);
        if let Some(br) = a.brotli {
            let mut out = Vec::new();
            brotli::Decompressor::new(br, 4096)
                .read_to_end(&mut out)
                .expect("brotli");
            assert_eq!(out, a.identity, "{}", a.path);
        }
        if let Some(gz) = a.gzip {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(gz)
                .read_to_end(&mut out)
                .expect("gzip");
            assert_eq!(out, a.identity, "{}", a.path);
        }
        assert!(a.path.starts_with('/'));
    }
    let mut sorted: Vec<_> = ASSETS.iter().map(|a| a.path).collect();
    sorted.sort();
    assert_eq!(sorted, ASSETS.iter().map(|a| a.path).collect::<Vec<_>>());
}

/// A file big enough to be stored compressed.
fn compressed() -> &'static Asset {
    ASSETS
        .iter()
        .find(|a| a.brotli.is_some() && a.gzip.is_some())
        .expect("at least one file is stored compressed")
}

#[test]
fn the_encoding_is_the_best_the_browser_accepts() {
    let a = compressed();
    let r = get(a.path, &[("accept-encoding", "gzip, deflate, br, zstd")]);
    assert_eq!(header(&r, "content-encoding"), Some("br"));
    assert_eq!(r.body().as_ref(), a.brotli.expect("br"));
    assert_eq!(header(&r, "vary"), Some("accept-encoding"));
    let r = get(a.path, &[("accept-encoding", "gzip")]);
    assert_eq!(header(&r, "content-encoding"), Some("gzip"));
    let r = get(a.path, &[("accept-encoding", "br;q=0, *;q=0.5")]);
    assert_eq!(header(&r, "content-encoding"), Some("gzip"));
    for none in ["", "br;q=0, gzip;q=0", "identity", "*;q=0"] {
        let r = get(a.path, &[("accept-encoding", none)]);
        assert_eq!(header(&r, "content-encoding"), None, "{none:?}");
        assert_eq!(r.body().as_ref(), a.identity, "{none:?}");
    }
    let r = get(a.path, &[]);
    assert_eq!(header(&r, "content-encoding"), None);
}

#[test]
fn a_known_entity_tag_gets_304_without_a_body() {
    let a = compressed();
    let first = get(a.path, &[("accept-encoding", "br")]);
    let tag = header(&first, "etag").expect("etag").to_string();
    assert!(tag.starts_with('"') && tag.ends_with("-br\""), "{tag}");
    assert_eq!(header(&first, "cache-control"), Some("no-cache"));
    let again = get(
        a.path,
        &[("accept-encoding", "br"), ("if-none-match", &tag)],
    );
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.body().is_empty());
    assert_eq!(header(&again, "etag"), Some(tag.as_str()));
    // The gzip version's tag names the same content: still fresh.
    let gz_tag = tag.replace("-br", "-gz");
    let weak = format!("W/{gz_tag}");
    let r = get(
        a.path,
        &[("accept-encoding", "br"), ("if-none-match", &weak)],
    );
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    // Another file's tag, or a changed file's, is not.
    let r = get(a.path, &[("if-none-match", "\"000000000000000000000000\"")]);
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.body().as_ref(), a.identity);
}

#[test]
fn head_says_the_length_without_the_body() {
    let a = compressed();
    let r = respond(&Method::HEAD, a.path, &HeaderMap::new());
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.body().is_empty());
    assert_eq!(
        header(&r, "content-length"),
        Some(a.identity.len().to_string().as_str())
    );
}

#[test]
fn other_methods_paths_and_the_socket_path_are_refused_plainly() {
    let r = respond(&Method::POST, "/", &HeaderMap::new());
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&r, "allow"), Some("GET, HEAD"));
    for missing in [
        "/nope",
        "/../Cargo.toml",
        "/index.html/",
        "//index.html",
        "/app/index.html",
    ] {
        assert_eq!(
            get(missing, &[]).status(),
            StatusCode::NOT_FOUND,
            "{missing}"
        );
    }
    let r = get(IRC_PATH, &[]);
    assert_eq!(r.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(header(&r, "upgrade"), Some("websocket"));
    assert_eq!(
        header(&r, "content-security-policy"),
        Some(CONTENT_SECURITY_POLICY)
    );
}
