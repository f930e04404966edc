//! Replays the committed corpus (`corpus/<target>/*`, seeds and what the
//! fuzzer found) through every target, so an ordinary `cargo test` checks
//! each file still holds the targets' properties. Must stay engine-free.

use std::fs;
use std::path::PathBuf;

use chatroom_fuzz::{TARGETS, target};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

#[test]
fn every_corpus_file_holds_its_targets_properties() {
    for (name, run) in TARGETS {
        let dir = corpus().join(name);
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no corpus for {name}");
        for file in files {
            let data = fs::read(&file).expect("corpus file");
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{name}: {} breaks it", file.display());
        }
    }
}

#[test]
fn every_corpus_directory_is_a_target() {
    for entry in fs::read_dir(corpus()).expect("corpus directory") {
        let name = entry.expect("directory entry").file_name();
        let name = name.to_str().expect("ASCII names");
        assert!(target(name).is_some(), "corpus/{name} has no target");
    }
}
