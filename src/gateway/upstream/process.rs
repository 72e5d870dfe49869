//! Processes the gateway starts for `command` servers. Each runs in its own process group with
//! only the server's environment variables (plus `PATH`/`HOME` so commands resolve), its stderr
//! goes to the log (and the last lines are kept to explain a crash), and dropping the handle
//! kills the whole group, so no child outlives the connection that needed it.

use std::{
    collections::VecDeque,
    net::TcpListener,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use process_wrap::tokio::{ChildWrapper, CommandWrap, KillOnDrop, ProcessGroup};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Environment variables a child keeps from the gateway's own environment.
const INHERITED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "USER",
    "NODE_PATH",
];
const STDERR_LINES_KEPT: usize = 20;

pub struct ChildProcess {
    child: Box<dyn ChildWrapper>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    stderr_reader: Option<tokio::task::JoinHandle<()>>,
    pub pid: Option<u32>,
    /// Whether the leader has been waited for. Until then its pid, which is the group's id,
    /// cannot be reused, so signalling the group reaches only this server's processes.
    reaped: bool,
}

impl ChildProcess {
    pub fn spawn(
        server: &str,
        command: &str,
        args: &[String],
        env: &[(String, String)],
        extra_env: &[(String, String)],
        piped_stdio: bool,
    ) -> std::io::Result<ChildProcess> {
        let mut cmd = tokio::process::Command::new(command);
        cmd.args(args).env_clear();
        for name in INHERITED_ENV {
            if let Some(value) = std::env::var_os(name) {
                cmd.env(name, value);
            }
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v)))
            .envs(extra_env.iter().map(|(k, v)| (k, v)))
            .stderr(Stdio::piped())
            .stdin(if piped_stdio {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(if piped_stdio {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut wrapped = CommandWrap::from(cmd);
        wrapped.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
        let mut child = wrapped.spawn()?;
        let pid = child.id();
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let mut stderr_reader = None;
        if let Some(stderr) = child.stderr().take() {
            let tail = stderr_tail.clone();
            let server = server.to_owned();
            stderr_reader = Some(tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::info!(target: "gatehouse::upstream", server, "{line}");
                    let mut tail = tail.lock().expect("stderr tail lock");
                    if tail.len() == STDERR_LINES_KEPT {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
            }));
        }
        tracing::info!(server, pid, command, "started an upstream process");
        Ok(ChildProcess {
            child,
            stderr_tail,
            stderr_reader,
            pid,
            reaped: false,
        })
    }

    pub fn take_stdio(
        &mut self,
    ) -> Option<(tokio::process::ChildStdout, tokio::process::ChildStdin)> {
        Some((self.child.stdout().take()?, self.child.stdin().take()?))
    }

    /// The last lines the process wrote to stderr, to explain why it failed. Gives an exited
    /// process a moment to have its last words read.
    pub async fn last_words(&mut self) -> String {
        if let Some(reader) = self.stderr_reader.take() {
            let _ = tokio::time::timeout(Duration::from_millis(500), reader).await;
        }
        self.stderr_tail()
    }

    pub fn stderr_tail(&self) -> String {
        let tail = self.stderr_tail.lock().expect("stderr tail lock");
        tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Whether the process has exited (and with what), without waiting.
    pub fn try_exit_status(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.try_wait().ok().flatten();
        self.reaped |= status.is_some();
        status
    }

    /// Whether the leader has exited, leaving it to be reaped by [`ChildProcess::stop`] (so
    /// the group can still be told apart from any process that reuses the pid).
    pub fn has_exited(&self) -> bool {
        #[cfg(unix)]
        {
            use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
            let Some(pid) = self.pid else {
                return true;
            };
            let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
            !matches!(
                waitid(Id::Pid(nix::unistd::Pid::from_raw(pid as i32)), flags),
                Ok(WaitStatus::StillAlive)
            )
        }
        #[cfg(not(unix))]
        false
    }

    /// Asks the process group to stop (SIGTERM), then kills it after `grace`. What is left of
    /// the group is killed too, even when the leader exited in time: `wait` only sees the
    /// leader, and a helper it started that ignores SIGTERM is not our child.
    pub async fn stop(mut self, grace: Duration) {
        #[cfg(unix)]
        let _ = self.child.signal(nix::sys::signal::Signal::SIGTERM as i32);
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            let _ = Box::into_pin(self.child.kill()).await;
        }
        // Right after the leader was reaped: what is left of the group goes too.
        self.kill_group();
        self.reaped = true;
    }

    fn kill_group(&self) {
        #[cfg(unix)]
        if let Some(leader) = self.pid {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(leader as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Drop for ChildProcess {
    /// Kills whatever is left of the process group, unless `stop` did. Tokio's kill-on-drop
    /// reaches only the leader.
    fn drop(&mut self) {
        if !self.reaped {
            self.kill_group();
        }
    }
}

/// A free loopback port for an `http` command server to listen on.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until something accepts connections on `port`, or `deadline` passes.
pub async fn wait_for_port(port: u16, deadline: Duration) -> bool {
    let until = tokio::time::Instant::now() + deadline;
    while tokio::time::Instant::now() < until {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
