//! The real `roster` binary as a child process (crash tests, benchmarks): started on a free
//! loopback port against a database URL, ready when `/readyz` answers, killed on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `roster serve`.
pub struct RosterProcess {
    /// The child (its `id()` is the pid; `kill()` is SIGKILL).
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub addr: String,
}

impl Drop for RosterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RosterProcess {
    /// Starts `bin serve` on `url` with these extra environment variables (the test
    /// credentials key is always set), optionally pinned to CPUs with `taskset -c`, and waits
    /// up to 30 s for `/readyz`.
    pub async fn start(
        bin: &Path,
        url: &str,
        env: &[(&str, &str)],
        cpus: Option<&str>,
    ) -> RosterProcess {
        let port = free_port();
        let mut cmd = match cpus {
            Some(c) if Command::new("taskset").arg("--version").output().is_ok() => {
                let mut t = Command::new("taskset");
                t.args(["-c", c]).arg(bin);
                t
            }
            _ => Command::new(bin),
        };
        cmd.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            url,
        ])
        .env("ROSTER_SECRET_KEY", crate::TEST_SECRET_KEY)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let process = RosterProcess {
            child: cmd.spawn().unwrap(),
            addr: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        crate::push::wait_for(Duration::from_secs(30), "roster to start", || {
            let c = client.clone();
            let url = format!("{}/readyz", process.addr);
            async move {
                let r = c.get(url).send().await.ok()?;
                r.status().is_success().then_some(())
            }
        })
        .await;
        process
    }
}

/// Issues a token on the database at `url` (through the same code as `roster token issue`).
pub fn issue_token(url: &str, scopes: &[&str]) -> String {
    let store = store::Store::open(url, &store::PoolOptions::default()).unwrap();
    let keys = server::auth::Keys::load(&store).unwrap();
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    server::auth::issue(&store, &keys, "test", &scopes, 1)
        .unwrap()
        .token
}
