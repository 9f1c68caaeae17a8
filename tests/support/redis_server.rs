//! A private `redis-server` for the remote tier's tests: a child process on a
//! unix socket in a temporary directory, no persistence, killed by pid when
//! dropped. Without the binary, [`RedisServer::start`] returns `None` after
//! printing why (the test then skips), unless `PERSISTDICT_REQUIRE_REDIS=1`.
#![allow(dead_code, clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const CHILD: &str = env!("CARGO_BIN_EXE_persistdict-child");

pub struct RedisServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

fn required() -> bool {
    std::env::var("PERSISTDICT_REQUIRE_REDIS").is_ok_and(|v| v == "1")
}

impl RedisServer {
    /// A fresh server, or `None` (the test skips) when `redis-server` is missing.
    pub fn start() -> Option<RedisServer> {
        Self::start_with(&[])
    }

    /// A fresh server with extra arguments (`--requirepass …`).
    pub fn start_with(extra: &[&str]) -> Option<RedisServer> {
        let found = Command::new("redis-server").arg("--version").output().is_ok_and(|o| o.status.success());
        if !found {
            assert!(!required(), "PERSISTDICT_REQUIRE_REDIS=1 but redis-server is not installed");
            println!(
                "SKIPPED: redis-server is not installed (apt-get install redis-server); set PERSISTDICT_REQUIRE_REDIS=1 to fail instead"
            );
            return None;
        }
        let mut s = RedisServer {
            child: None,
            dir: tempfile::tempdir().unwrap(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        s.spawn();
        Some(s)
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// `redis+unix://` URL of the server (`pass`: a password to put in it).
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket().display())
    }

    fn spawn(&mut self) {
        let sock = self.socket();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(&sock)
            .args(["--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir"])
            .arg(self.dir.path())
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let t0 = Instant::now();
        loop {
            if self.ping() {
                return;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "redis-server did not answer PING");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn ping(&self) -> bool {
        let Ok(mut c) = self.try_conn() else { return false };
        redis::cmd("PING").query::<String>(&mut c).is_ok_and(|p| p == "PONG")
    }

    fn try_conn(&self) -> redis::RedisResult<redis::Connection> {
        let mut url = self.url();
        if let Some(i) = self.extra.iter().position(|a| a == "--requirepass") {
            url = format!("{url}?pass={}", self.extra[i + 1]);
        }
        let c = redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(2))?;
        c.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(c)
    }

    /// A connection for the test itself.
    pub fn conn(&self) -> redis::Connection {
        self.try_conn().expect("connect to the test's redis-server")
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    fn signal(&self, sig: i32) {
        // SAFETY: a signal to our own child.
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0);
    }

    /// SIGKILL, and reaped.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: as above.
            unsafe { libc::kill(c.id() as i32, libc::SIGCONT) };
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A new, empty server on the same socket.
    pub fn restart(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(self.socket());
        self.spawn();
    }

    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
    }

    pub fn thaw(&self) {
        self.signal(libc::SIGCONT);
    }

    /// Every key (the server is the test's own).
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut self.conn()).unwrap();
        k.sort();
        k
    }

    /// The keys of values (not leases).
    pub fn value_keys(&self) -> Vec<String> {
        self.keys().into_iter().filter(|k| k.starts_with("pd1:") && !k.ends_with(":lease")).collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The helper process with the remote tier on `url`, its local store in
/// `local` (`PERSISTDICT_DIR`); `envs` are more variables.
pub fn child(url: &str, local: &Path, args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(CHILD);
    cmd.args(args).env("PERSISTDICT_REMOTE", url).env("PERSISTDICT_DIR", local).env_remove("PERSISTDICT_DISABLE");
    for v in [
        "PERSISTDICT_REMOTE_NAMESPACE",
        "PERSISTDICT_REMOTE_TIMEOUT_MS",
        "PERSISTDICT_REMOTE_MAX_VALUE",
        "PERSISTDICT_REMOTE_LEASE_MS",
        "PERSISTDICT_CHILD_LOG",
    ] {
        cmd.env_remove(v);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

/// Runs it; panics with its output unless it succeeded.
pub fn run(mut cmd: Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "child failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    out
}

/// `remote-calls` output: (x, result) pairs and the stats (hits, misses, errors).
pub fn calls(out: &Output) -> (Vec<(u64, u64)>, [u64; 3]) {
    let text = String::from_utf8_lossy(&out.stdout);
    let mut results = Vec::new();
    let mut stats = [0; 3];
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts[0] == "stats" {
            for i in 0..3 {
                stats[i] = parts[i + 1].parse().unwrap();
            }
        } else {
            results.push((parts[0].parse().unwrap(), parts[1].parse().unwrap()));
        }
    }
    (results, stats)
}

/// Body runs noted in `dir/runs`, per argument.
pub fn runs(dir: &Path) -> std::collections::BTreeMap<u64, usize> {
    let mut m = std::collections::BTreeMap::new();
    for l in std::fs::read_to_string(dir.join("runs")).unwrap_or_default().lines() {
        *m.entry(l.parse().unwrap()).or_insert(0) += 1;
    }
    m
}
