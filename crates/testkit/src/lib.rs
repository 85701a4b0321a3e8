//! Test kit: starts the real `strongroom` binary on an ephemeral port and
//! hands tests an HTTP helper and a CLI command already pointed at it.
//! Server logs go to a file so tests can search them (canary tests).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!(
            "strongroom-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running server process.
pub struct Server {
    bin: PathBuf,
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub addr: String,
    /// The root token (dev mode), or set by the test after `operator init`.
    pub token: String,
    log: PathBuf,
    pub dir: TempDir,
    agent: ureq::Agent,
    /// Extra environment of the server process, kept across restarts.
    env: Vec<(String, String)>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

impl Server {
    /// `strongroom server --dev` on an ephemeral port with a known root token.
    pub fn dev(bin: &str) -> Server {
        let dir = TempDir::new("dev");
        let token = format!(
            "sr.test-root-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let args = vec![
            "server".to_string(),
            "--dev".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--dev-root-token".into(),
            token.clone(),
            // Inside the test's temp dir, so it is removed with it.
            "--audit-path".into(),
            dir.path().join("audit.jsonl").display().to_string(),
        ];
        let mut s = Self::spawn(bin, dir, &args, &[]);
        s.token = token;
        s.wait_health(200);
        s
    }

    /// [`Server::dev`] with extra environment for the server process.
    pub fn dev_with_env(bin: &str, env: &[(&str, &str)]) -> Server {
        let dir = TempDir::new("dev");
        let token = format!(
            "sr.test-root-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let args = vec![
            "server".to_string(),
            "--dev".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--dev-root-token".into(),
            token.clone(),
            "--audit-path".into(),
            dir.path().join("audit.jsonl").display().to_string(),
        ];
        let mut s = Self::spawn(bin, dir, &args, env);
        s.token = token;
        s.wait_health(200);
        s
    }

    /// [`Server::dev_with_env`] without the health check over plain HTTP:
    /// for a dev server that serves TLS (`STRONGROOM_TLS_CERT`,
    /// `STRONGROOM_TLS_KEY`, perhaps requiring client certificates), which
    /// the kit's own HTTP helper cannot reach. The server is ready once it
    /// has printed its address (a dev server initializes first); drive it
    /// with [`Server::cli`] plus `STRONGROOM_CACERT`, or curl.
    pub fn dev_tls(bin: &str, env: &[(&str, &str)]) -> Server {
        let dir = TempDir::new("dev-tls");
        let token = format!(
            "sr.test-root-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let args = vec![
            "server".to_string(),
            "--dev".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--dev-root-token".into(),
            token.clone(),
            "--audit-path".into(),
            dir.path().join("audit.jsonl").display().to_string(),
        ];
        let mut s = Self::spawn(bin, dir, &args, env);
        s.token = token;
        s
    }

    /// `strongroom server --dev` as a user starts it (no `--audit-path`),
    /// with its temp directory (`TMPDIR`) inside `dir`, so the audit log
    /// it creates there can be checked and is removed with `dir`.
    pub fn dev_default_audit(bin: &str, dir: TempDir) -> Server {
        let token = format!(
            "sr.test-root-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let tmp = dir.path().display().to_string();
        let args = vec![
            "server".to_string(),
            "--dev".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--dev-root-token".into(),
            token.clone(),
        ];
        let mut s = Self::spawn(bin, dir, &args, &[("TMPDIR", &tmp)]);
        s.token = token;
        s.wait_health(200);
        s
    }

    /// Stops the server cleanly (SIGTERM, as systemd or Ctrl-C would) and
    /// returns its exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A production-mode server on SQLite in `dir` (plain HTTP via
    /// `tls_disable = true`, or TLS when `tls` is given as (cert, key)).
    pub fn production(bin: &str, dir: TempDir, tls: Option<(&str, &str)>) -> Server {
        Self::production_with(bin, dir, tls, "", &[])
    }

    /// Like [`Server::production`], with extra TOML lines appended to the
    /// config and extra environment variables for the server process (kept
    /// by [`Server::restart`]).
    pub fn production_with(
        bin: &str,
        dir: TempDir,
        tls: Option<(&str, &str)>,
        extra_toml: &str,
        env: &[(&str, &str)],
    ) -> Server {
        let config = dir.path().join("strongroom.toml");
        let db = dir.path().join("strongroom.db");
        let mut text = format!(
            "listen = \"127.0.0.1:0\"\nstorage_path = {:?}\n",
            db.display().to_string()
        );
        match tls {
            Some((c, k)) => text.push_str(&format!("tls_cert = {c:?}\ntls_key = {k:?}\n")),
            None => text.push_str("tls_disable = true\n"),
        }
        text.push_str(extra_toml);
        std::fs::write(&config, text).expect("write config");
        let args = vec![
            "server".to_string(),
            "--config".into(),
            config.display().to_string(),
        ];
        Self::spawn(bin, dir, &args, env)
    }

    /// A production-mode server (plain HTTP) whose storage is `storage`, e.g.
    /// a `postgres://` URL; its config and audit log live in `dir`. Several
    /// such servers may share one database.
    pub fn production_with_storage(bin: &str, dir: TempDir, storage: &str) -> Server {
        Self::production_with_storage_env(bin, dir, storage, &[])
    }

    /// [`Server::production_with_storage`] with extra environment.
    pub fn production_with_storage_env(
        bin: &str,
        dir: TempDir,
        storage: &str,
        env: &[(&str, &str)],
    ) -> Server {
        let config = dir.path().join("strongroom.toml");
        let text = format!(
            "listen = \"127.0.0.1:0\"\nstorage_path = {storage:?}\naudit_path = {:?}\ntls_disable = true\n",
            dir.path().join("audit.jsonl").display().to_string()
        );
        std::fs::write(&config, text).expect("write config");
        let args = vec![
            "server".to_string(),
            "--config".into(),
            config.display().to_string(),
        ];
        Self::spawn(bin, dir, &args, env)
    }

    /// Restarts a production server on the same directory (new port).
    pub fn restart(self) -> Server {
        let env = self.env.clone();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.restart_with_env(&env)
    }

    /// Restarts with a different extra environment (replacing the old one).
    pub fn restart_with_env(mut self, env: &[(&str, &str)]) -> Server {
        self.stop();
        let bin = self.bin.clone();
        let dir = std::mem::replace(&mut self.dir, TempDir::new("moved"));
        let config = dir.path().join("strongroom.toml");
        let args = vec![
            "server".to_string(),
            "--config".into(),
            config.display().to_string(),
        ];
        let mut s = Self::spawn(bin.to_str().expect("utf8 path"), dir, &args, env);
        s.token = self.token.clone();
        s
    }

    fn spawn(bin: &str, dir: TempDir, args: &[String], env: &[(&str, &str)]) -> Server {
        let log = dir.path().join(format!(
            "server-{}.log",
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env("STRONGROOM_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start strongroom server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                if let Some(i) = line.find(" listening on ") {
                    let _ = tx.send(line[i + " listening on ".len()..].trim().to_string());
                }
                line.clear();
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not start; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        Server {
            bin: PathBuf::from(bin),
            child: Some(child),
            addr,
            token: String::new(),
            log,
            dir,
            agent: agent(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// Waits until `/v1/sys/health` answers `status`.
    pub fn wait_health(&self, status: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.get("/v1/sys/health").0 == status {
                return;
            }
            assert!(Instant::now() < deadline, "health never became {status}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the server wrote to stderr (its log).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.addr);
        let auth = token.map(|t| format!("Bearer {t}"));
        let res = match method {
            "GET" => {
                let mut r = self.agent.get(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            "DELETE" => {
                let mut r = self.agent.delete(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            m => {
                let mut r = if m == "PATCH" {
                    self.agent.patch(&url)
                } else {
                    self.agent.post(&url)
                };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.send_json(body.cloned().unwrap_or(Value::Null))
            }
        };
        let mut resp = res.unwrap_or_else(|e| panic!("{method} {path} failed: {e}"));
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    /// POST with the root token.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send("POST", path, Some(body), Some(&self.token))
    }

    /// GET with the root token.
    pub fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None, Some(&self.token))
    }

    /// Any method, any token (or none).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        self.send(method, path, body, token)
    }

    /// Raw bytes with a content type, for malformed-body tests.
    pub fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let url = format!("{}{path}", self.addr);
        let mut resp = self
            .agent
            .post(&url)
            .header("Authorization", &format!("Bearer {}", self.token))
            .header("Content-Type", content_type)
            .send(&body[..])
            .unwrap_or_else(|e| panic!("POST {path} failed: {e}"));
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A `strongroom` CLI command pointed at this server.
    pub fn cli(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("STRONGROOM_ADDR", &self.addr)
            .env("STRONGROOM_TOKEN", &self.token)
            .env_remove("STRONGROOM_CACERT")
            .env_remove("STRONGROOM_CLIENT_CERT")
            .env_remove("STRONGROOM_CLIENT_KEY");
        c
    }

    /// `kill -9`: no chance to flush or clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL on Unix
            let _ = c.wait();
        }
    }

    /// Stops the server (SIGKILL too: the server must not depend on a clean stop).
    pub fn stop(&mut self) {
        self.kill9();
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs a CLI command and returns (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .expect("run strongroom CLI");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
