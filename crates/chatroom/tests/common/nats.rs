//! A real `nats-server` (Debian's package) for the cluster tests: started
//! with JetStream on a free loopback port and a private store directory,
//! killed by its PID when dropped. Missing `nats-server` is a failure,
//! never a skip: `scripts/test.sh` installs it.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{TestServer, WAIT};

pub struct Nats {
    child: Option<Child>,
    pub port: u16,
    store: PathBuf,
    log: PathBuf,
}

impl Nats {
    pub fn start() -> Nats {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let store = std::env::temp_dir().join(format!(
            "chatroom-nats-{}-{port}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&store).expect("nats store dir");
        let log = store.join("nats.log");
        let mut nats = Nats {
            child: None,
            port,
            store,
            log,
        };
        nats.launch();
        nats
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("nats log");
        let child = Command::new("nats-server")
            .args([
                "-js",
                "-sd",
                &self.store.join("js").to_string_lossy(),
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start nats-server ({e}): the cluster tests need it \
                     (apt-get install -y nats-server; scripts/test.sh does)"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        while TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops the server (SIGKILL) and waits for it; the store stays.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// A chatroom node of this cluster named `name`, with `args` besides.
    pub fn node(&self, name: &str, args: &[&str]) -> TestServer {
        self.node_in(None, name, args)
    }

    /// Like [`Nats::node`], on the data directory `dir` (a restart).
    pub fn node_in(&self, dir: Option<&std::path::Path>, name: &str, args: &[&str]) -> TestServer {
        let url = self.url();
        let mut all = vec![
            "--cluster",
            &url,
            "--node-name",
            name,
            "--no-mdns",
            "--no-tls",
            "--no-web-tls",
        ];
        all.extend_from_slice(args);
        TestServer::start_in(dir, &all)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("nats-server's log is {}", self.log.display());
        }
        self.stop();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.store);
        }
    }
}
