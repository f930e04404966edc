//! Embeds the browser app (`app/`) in the crate at build time.
//!
//! Every file under `app/` becomes an entry of `ASSETS` (in `OUT_DIR/assets.rs`,
//! included by `lib.rs`): its path as the browser asks for it, its content
//! type, an entity tag from its SHA-256 digest, its bytes, and, for text
//! files, brotli and gzip versions made here once, so serving a file costs
//! no compression and no copy (a `Bytes` over static memory). A file whose
//! kind is not in the table stops the build: serving it with a guessed type
//! is what `X-Content-Type-Options: nosniff` exists to prevent.
//!
//! This script must not need Node or the network: the app is plain files.

use std::error::Error;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Content type by file extension, and whether compressing it pays.
fn kind(ext: &str) -> Option<(&'static str, bool)> {
    Some(match ext {
        "html" => ("text/html; charset=utf-8", true),
        "js" | "mjs" => ("text/javascript; charset=utf-8", true),
        "css" => ("text/css; charset=utf-8", true),
        "svg" => ("image/svg+xml", true),
        "webmanifest" => ("application/manifest+json", true),
        "json" => ("application/json", true),
        "txt" => ("text/plain; charset=utf-8", true),
        "png" => ("image/png", false),
        "ico" => ("image/x-icon", true),
        "woff2" => ("font/woff2", false),
        _ => return None,
    })
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), Box<dyn Error>> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, found)?;
        } else {
            found.push(path);
        }
    }
    Ok(())
}

fn gzip(data: &[u8]) -> Result<Vec<u8>, Box<dyn Error>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data)?;
    Ok(enc.finish()?)
}

fn brotli(data: &[u8]) -> Result<Vec<u8>, Box<dyn Error>> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &data[..], &mut out, &params)?;
    Ok(out)
}

fn main() -> Result<(), Box<dyn Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("app");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    // A directory here is scanned whole by Cargo: a new file reruns this.
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    walk(&root, &mut files)?;
    files.sort();
    let mut code = String::from("&[\n");
    for (n, file) in files.iter().enumerate() {
        let rel = file.strip_prefix(&root)?;
        let url = format!(
            "/{}",
            rel.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        );
        let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
        let (content_type, compress) = kind(ext).ok_or_else(|| {
            format!(
                "{}: no content type for files ending in {ext:?}",
                file.display()
            )
        })?;
        let data = std::fs::read(file)?;
        let digest = Sha256::digest(&data);
        let tag: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        let mut versions = String::new();
        for (label, make) in [("br", brotli as fn(&[u8]) -> _), ("gzip", gzip)] {
            let packed = if compress { Some(make(&data)?) } else { None };
            match packed {
                Some(p) if p.len() < data.len() => {
                    let name = out.join(format!("asset{n}.{label}"));
                    std::fs::write(&name, &p)?;
                    write!(
                        versions,
                        "Some(include_bytes!({:?})), ",
                        name.display().to_string()
                    )?;
                }
                _ => versions.push_str("None, "),
            }
        }
        writeln!(
            code,
            "    Asset::new({url:?}, {content_type:?}, {tag:?}, include_bytes!({:?}), {versions}),",
            file.display().to_string()
        )?;
    }
    code.push(']');
    std::fs::write(out.join("assets.rs"), code)?;
    Ok(())
}
