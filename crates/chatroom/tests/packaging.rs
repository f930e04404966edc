//! What packagers and operators install beside the binary: `--version`
//! with the git revision, shell completions, the manual pages, the systemd
//! unit in contrib/ (checked by `systemd-analyze` where it is installed),
//! and the example configuration file, which the real server starts with.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::TestServer;

fn chatroom(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_chatroom"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run chatroom");
    assert!(
        out.status.success(),
        "chatroom {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chatroom-pkg-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn version_names_the_git_revision() {
    let out = chatroom(&["--version"]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let want = format!("chatroom {} (", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&want), "{text}");
    let rev = text
        .trim()
        .strip_prefix(&want)
        .and_then(|r| r.strip_suffix(')'))
        .expect("a revision in parentheses");
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        Some(head) => assert_eq!(rev, head, "{text}"),
        None => assert_eq!(rev, "unknown", "{text}"),
    }
}

#[test]
fn completions_for_each_shell() {
    for (shell, mark) in [
        ("bash", "complete -F _chatroom"),
        ("zsh", "#compdef chatroom"),
        ("fish", "complete -c chatroom"),
    ] {
        let out = chatroom(&["completions", shell]);
        let text = String::from_utf8(out.stdout).expect("utf-8");
        assert!(text.contains(mark), "{shell}: no {mark:?}");
        // Subcommands and their flags are completed.
        assert!(
            text.contains("serve") && text.contains("metrics-addr"),
            "{shell}"
        );
    }
}

#[test]
fn manual_pages() {
    let out = chatroom(&["man"]);
    let page = String::from_utf8(out.stdout).expect("utf-8");
    assert!(page.contains(".TH chatroom 1"), "{page}");
    assert!(page.contains("serve"), "{page}");
    let dir = temp_dir("man");
    chatroom(&["man", "--out-dir", dir.to_str().expect("utf-8")]);
    let serve = std::fs::read_to_string(dir.join("chatroom-serve.1")).expect("chatroom-serve.1");
    assert!(serve.contains("metrics\\-addr"), "{serve}");
    assert!(dir.join("chatroom-join.1").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_systemd_unit_is_sandboxed_and_verifies() {
    let unit = std::fs::read_to_string(repo().join("contrib/chatroom.service")).expect("unit");
    for line in [
        "DynamicUser=yes",
        "StateDirectory=chatroom",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "#AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "ExecStart=/usr/local/bin/chatroom serve",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.contains(line), "{line:?} not in the unit");
    }
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed: the unit was not verified");
        return;
    }
    // The unit as installed, with the binary under test, and the manual
    // pages its Documentation= names where `man` finds them.
    let dir = temp_dir("unit");
    let bin = env!("CARGO_BIN_EXE_chatroom");
    let path = dir.join("chatroom.service");
    let mut tested = unit.replace("/usr/local/bin/chatroom", bin);
    // verify runs `man` for each Documentation= page; without man-db it
    // could only complain about the missing program.
    if Command::new("man").arg("--version").output().is_err() {
        eprintln!("man is not installed: Documentation= is left out of the verified copy");
        tested = tested
            .lines()
            .filter(|l| !l.starts_with("Documentation="))
            .map(|l| format!("{l}\n"))
            .collect();
    }
    std::fs::write(&path, tested).expect("write the unit");
    let man = dir.join("man");
    chatroom(&[
        "man",
        "--out-dir",
        man.join("man1").to_str().expect("utf-8"),
    ]);
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .env("MANPATH", &man)
        .output()
        .expect("systemd-analyze verify");
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success(), "{said}");
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify warned: {said}"
    );
    // The sandbox as systemd rates it (where this systemd can rate a unit
    // file that is not loaded).
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&path)
        .output()
        .expect("systemd-analyze security");
    if security.status.success() {
        let text = String::from_utf8_lossy(&security.stdout);
        let verdict = text
            .lines()
            .find(|l| l.contains("Overall exposure level"))
            .unwrap_or_else(|| panic!("no verdict: {text}"));
        assert!(verdict.contains(" OK"), "{verdict}");
    } else {
        eprintln!(
            "systemd-analyze security --offline is not available: {}",
            String::from_utf8_lossy(&security.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_server_starts_with_the_example_configuration() {
    let example = repo().join("contrib/chatroom.example.toml");
    let srv = TestServer::start(&["--config", example.to_str().expect("utf-8")]);
    let mut c = common::LineClient::line_login(srv.line.expect("line"), "example");
    c.send("hello from the example");
    c.expect("hello from the example");
}
