//! Running the real `tabhub` binary (and other programs) from tests.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long the server may take to accept connections.
pub const SERVER_START: Duration = Duration::from_secs(10);

/// A child process killed (and reaped) when dropped, with its output
/// collected in the background.
pub struct Guard {
    child: Child,
    /// A data directory made for this process, removed on drop.
    data: Option<std::path::PathBuf>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<thread::JoinHandle<()>>,
}

impl Guard {
    pub fn spawn(mut command: Command) -> Guard {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Guard {
            child,
            data: None,
            stdout,
            stderr,
            readers,
        }
    }

    /// Waits up to `limit` for the process to exit; `None` if it did not.
    pub fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The pipes close with the process: read them to the end.
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the process (`what`, in messages) accepts connections
    /// on `addr`; panics with its output if it exits first or takes longer
    /// than `limit`.
    pub fn wait_listening(&mut self, what: &str, addr: SocketAddr, limit: Duration) {
        let deadline = Instant::now() + limit;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = self.wait_for(Duration::ZERO) {
                panic!("{what} exited early ({status})\n{}", self.output());
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not listen on {addr} within {limit:?}\n{}",
                self.output()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&self.stdout.lock().unwrap()),
            String::from_utf8_lossy(&self.stderr.lock().unwrap()),
        )
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failing test shows what its processes said.
        if thread::panicking() {
            eprintln!("{}", self.output());
        }
        if let Some(dir) = &self.data {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Copies `from` into `into` on a thread until end of file.
fn collect(
    mut from: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<u8>>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    })
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Starts the `tabhub` binary on a free loopback port with `args` and waits
/// until it accepts connections.
pub fn start_tabhub(args: &[&str]) -> (Guard, SocketAddr) {
    start_tabhub_with_env(args, &[])
}

/// As [`start_tabhub`], with extra environment variables.
pub fn start_tabhub_with_env(args: &[&str], env: &[(&str, &str)]) -> (Guard, SocketAddr) {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_tabhub"));
    command.arg("--bind").arg(addr.to_string()).args(args);
    // The demo as the protocol's tests count seqs: without its presence
    // list, unless `env` says otherwise.
    command.env("TABHUB_NO_DEMO_PRESENCE", "true");
    command.envs(env.iter().copied());
    // The default store is redb under ./tabhub-data: give each process its
    // own directory unless the test chose one.
    let data = (!args.contains(&"--data")).then(|| {
        std::env::temp_dir().join(format!(
            "tabhub-test-{}-{}",
            std::process::id(),
            free_port()
        ))
    });
    if let Some(dir) = &data {
        command.arg("--data").arg(dir);
    }
    let mut server = Guard::spawn(command);
    server.data = data;
    server.wait_listening("tabhub", addr, SERVER_START);
    (server, addr)
}

impl Guard {
    /// SIGKILLs the process's whole group (for a child started in a group of
    /// its own: it and everything it started) and reaps it.
    pub fn kill_group(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        self.kill_now();
    }

    /// Kills the process at once (SIGKILL: no shutdown code runs) and reaps it.
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) with `kill`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Sends SIGTERM (via `kill`, so no extra crate is needed).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
        assert!(status.success(), "kill -TERM failed");
    }
}
