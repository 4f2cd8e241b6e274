//! One daemon process: started with its arguments and log file, waited for until it serves
//! its socket, terminated or killed.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

use super::{io, LaunchError};

/// A daemon of a unit (`dataplaned` or `stackd`).
#[derive(Debug)]
pub struct Daemon {
    name: &'static str,
    unit: u8,
    binary: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    socket: PathBuf,
    own_group: bool,
    child: Option<Child>,
}

impl Daemon {
    pub(super) fn new(
        name: &'static str,
        unit: u8,
        binary: PathBuf,
        args: Vec<String>,
        env: Vec<(String, String)>,
        log: PathBuf,
        socket: PathBuf,
    ) -> Self {
        Daemon {
            name,
            unit,
            binary,
            args,
            env,
            log,
            socket,
            own_group: false,
            child: None,
        }
    }

    /// Starts it in a process group of its own, so a Ctrl-C meant for the launcher does not
    /// reach it (for daemons that must outlive the launcher). Otherwise it shares the
    /// launcher's group, and a Ctrl-C stops both (SIGINT is a clean stop for the daemons).
    pub(super) fn in_own_group(mut self, yes: bool) -> Self {
        self.own_group = yes;
        self
    }

    /// `dataplaned` or `stackd`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its log file (stderr; appended across restarts).
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The socket it serves.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The binary it runs.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Its arguments.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Its extra environment.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Lets it run on without this handle: it is no longer killed or reaped from here (it
    /// lives on after the launching process exits; `stack-sim down` finds it by its pid).
    pub fn detach(&mut self) {
        // Dropping a `Child` neither kills nor waits for it.
        self.child = None;
    }

    /// Its process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether it is running (reaps it if it exited).
    pub fn running(&mut self) -> bool {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    /// Starts it (again), its stderr appended to its log.
    pub fn start(&mut self) -> Result<(), LaunchError> {
        if self.running() {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(io(format!("open {}", self.log.display())))?;
        let mut cmd = Command::new(&self.binary);
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if self.own_group {
            cmd.process_group(0);
        }
        let child = cmd
            .spawn()
            .map_err(io(format!("start {}", self.binary.display())))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits (bounded) until its socket accepts connections.
    pub fn wait_serving(&mut self, limit: Duration) -> Result<(), LaunchError> {
        let deadline = Instant::now() + limit;
        loop {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return Ok(());
            }
            if !self.running() {
                return Err(self.failed("exited before serving"));
            }
            if Instant::now() >= deadline {
                return Err(self.failed(&format!(
                    "not serving {} after {limit:?}",
                    self.socket.display()
                )));
            }
            // Polling a socket that cannot notify: a short, bounded wait per try.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn failed(&self, what: &str) -> LaunchError {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        LaunchError::Start {
            daemon: self.name,
            unit: self.unit,
            message: format!(
                "{what}; end of {}:\n{}",
                self.log.display(),
                tail.join("\n")
            ),
        }
    }

    fn signal(&self, sig: Signal) {
        let pid = self
            .child
            .as_ref()
            .and_then(|c| i32::try_from(c.id()).ok())
            .and_then(Pid::from_raw);
        if let Some(pid) = pid {
            let _ = kill_process(pid, sig);
        }
    }

    /// SIGKILL, and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM (a clean stop); [`Daemon::reap`] waits for it.
    pub fn terminate(&mut self) {
        if self.running() {
            self.signal(Signal::TERM);
        }
    }

    /// Waits up to `limit` for it to exit, then kills it.
    pub fn reap(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
    }
}
