//! Gives `chatroom --version` the git revision it was built from
//! (`CHATROOM_GIT_REV`): the commit, or `unknown` outside a git checkout
//! (a source tarball). Changes not committed are not told apart: the build
//! script is rerun when HEAD moves, not at every edit.
//!
//! Must not fail the build: without git there is simply no revision.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.trim().to_string())
}

fn main() {
    let rev = git(&["rev-parse", "--short=12", "HEAD"]);
    println!(
        "cargo:rustc-env=CHATROOM_GIT_REV={}",
        rev.as_deref().unwrap_or("unknown")
    );
    // Rebuilt when HEAD moves (a commit, a checkout). Only files that
    // exist are named: cargo reruns the script at every build for a
    // missing one.
    let watch = |path: String| {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    };
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        watch(format!("{dir}/HEAD"));
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"])
            && let Some(common) = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"])
        {
            watch(format!("{common}/{reference}"));
            watch(format!("{common}/packed-refs"));
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
