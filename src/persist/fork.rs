//! The background save child: `fork()`, the child's work, and the parent's
//! view of it. This file holds the process's only `fork()`.
//!
//! Rules (see design.md): fork only with exactly one thread; the child
//! closes inherited sockets with raw `close` and never touches tokio
//! objects; it writes with blocking `std::fs`, reports progress and its
//! copy-on-write size over a pipe, and always ends with `_exit`. The parent
//! never waits: the cron tick polls the pipe and reaps with
//! `waitpid(pid, WNOHANG)`.

use super::save;
use crate::db::Keyspace;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Threads of this process, from `/proc/self/status`.
pub fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// `Private_Dirty` of this process in bytes: in a fork child, the pages
/// copied because one side wrote them.
pub fn private_dirty() -> u64 {
    std::fs::read_to_string("/proc/self/smaps_rollup")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Private_Dirty:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// How a finished child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The snapshot is in place.
    Ok {
        /// Keys written.
        keys: u64,
        /// File size.
        bytes: u64,
        /// Copy-on-write bytes at the end.
        cow: u64,
    },
    /// The child failed or was killed.
    Failed(String),
}

/// A running background save, as the parent sees it.
pub struct Child {
    /// Child process id.
    pub pid: libc::pid_t,
    /// When it was forked.
    pub started: Instant,
    /// Keys in the keyspace at fork time.
    pub keys_total: u64,
    /// Keys written so far (reported by the child).
    pub keys_done: u64,
    /// Copy-on-write bytes so far (reported by the child).
    pub cow: u64,
    /// `rdb_changes_since_last_save` at fork time.
    pub dirty_at_fork: u64,
    /// Set by BGSAVE CANCEL: the kill is not a failure.
    pub cancelled: bool,
    /// Where the child writes before renaming.
    pub temp_path: PathBuf,
    pipe: RawFd,
    buf: Vec<u8>,
    done: Option<(u64, u64, u64)>,
    error: Option<String>,
}

/// Forks a child that writes `ks` to `target`. `close_fds` are the
/// listening and client sockets the child must not keep open.
pub fn spawn(
    ks: &Keyspace,
    target: &Path,
    close_fds: &[RawFd],
    dirty: u64,
) -> Result<(Child, Duration), String> {
    let threads = thread_count();
    if threads != 1 {
        return Err(format!(
            "refusing to fork with {threads} threads (fork is only safe with one)"
        ));
    }
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    let (rd, wr) = (fds[0], fds[1]);
    let keys_total = save::total_keys(ks);
    let created_ms = crate::db::now_ms();
    let t0 = Instant::now();
    // SAFETY: the process has exactly one thread (checked above), so the
    // child gets a consistent copy of all memory, including allocator state.
    // The child only runs `child_main`, which ends in `_exit`.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = std::io::Error::last_os_error();
        // SAFETY: closing descriptors we just created.
        unsafe {
            libc::close(rd);
            libc::close(wr);
        }
        return Err(format!("fork: {e}"));
    }
    if pid == 0 {
        child_main(ks, target, close_fds, rd, wr, created_ms);
    }
    let fork_time = t0.elapsed();
    // SAFETY: closing our copy of the write end; making the read end
    // non-blocking so the cron tick never waits on it.
    unsafe {
        libc::close(wr);
        let fl = libc::fcntl(rd, libc::F_GETFL);
        libc::fcntl(rd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok((
        Child {
            pid,
            started: Instant::now(),
            keys_total,
            keys_done: 0,
            cow: 0,
            dirty_at_fork: dirty,
            cancelled: false,
            temp_path: save::temp_path(dir, pid as u32),
            pipe: rd,
            buf: Vec::new(),
            done: None,
            error: None,
        },
        fork_time,
    ))
}

fn write_all_fd(fd: RawFd, b: &[u8]) {
    let mut off = 0;
    while off < b.len() {
        // SAFETY: writing from a live slice to our pipe.
        let n = unsafe { libc::write(fd, b[off..].as_ptr() as *const libc::c_void, b.len() - off) };
        if n <= 0 {
            return;
        }
        off += n as usize;
    }
}

/// The child: write the snapshot, report, `_exit`. Never returns.
fn child_main(
    ks: &Keyspace,
    target: &Path,
    close_fds: &[RawFd],
    rd: RawFd,
    wr: RawFd,
    created_ms: i64,
) -> ! {
    // SAFETY: raw closes of inherited descriptors (never dropping the tokio
    // objects that own them in the parent's memory image), and restoring
    // default signal dispositions so SIGTERM/SIGINT end the child.
    unsafe {
        libc::close(rd);
        for &fd in close_fds {
            libc::close(fd);
        }
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        // A full disk or file-size limit must be an error, not a signal.
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        // The parent keeps serving at full speed: on a busy machine the
        // child yields the CPU to it (the save takes a little longer).
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
    let body = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut last = Instant::now();
        let mut progress = |done: u64| {
            if last.elapsed() >= Duration::from_millis(200) {
                last = Instant::now();
                write_all_fd(wr, format!("p {done} {}\n", private_dirty()).as_bytes());
            }
        };
        match save::save(ks, target, created_ms, &mut progress) {
            Ok(s) => {
                write_all_fd(
                    wr,
                    format!("d {} {} {}\n", s.keys, s.bytes, private_dirty()).as_bytes(),
                );
                0
            }
            Err(e) => {
                write_all_fd(wr, format!("e {e}\n").as_bytes());
                1
            }
        }
    }));
    let code = body.unwrap_or(2);
    // SAFETY: ends the child without running destructors or atexit hooks
    // that belong to the parent's state.
    unsafe { libc::_exit(code) }
}

impl Child {
    fn read_pipe(&mut self) {
        let mut tmp = [0u8; 4096];
        loop {
            // SAFETY: reading into a live stack buffer from our pipe.
            let n =
                unsafe { libc::read(self.pipe, tmp.as_mut_ptr() as *mut libc::c_void, tmp.len()) };
            if n <= 0 {
                break;
            }
            self.buf.extend_from_slice(&tmp[..n as usize]);
        }
        while let Some(nl) = self.buf.iter().position(|&c| c == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            let mut it = line.splitn(2, ' ');
            let kind = it.next().unwrap_or("");
            let rest = it.next().unwrap_or("");
            let nums: Vec<u64> = rest.split(' ').filter_map(|x| x.parse().ok()).collect();
            match (kind, nums.as_slice()) {
                ("p", [done, cow]) => {
                    self.keys_done = *done;
                    self.cow = *cow;
                }
                ("d", [keys, bytes, cow]) => {
                    self.keys_done = *keys;
                    self.cow = *cow;
                    self.done = Some((*keys, *bytes, *cow));
                }
                ("e", _) => self.error = Some(rest.to_string()),
                _ => {}
            }
        }
    }

    /// Reads progress and reaps the child if it has exited (never blocks).
    pub fn poll(&mut self) -> Option<Outcome> {
        self.read_pipe();
        let mut status = 0;
        // SAFETY: waiting, without blocking, on our own child only.
        let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        if r != self.pid {
            return None;
        }
        self.read_pipe();
        // SAFETY: the child is gone; release our end of its pipe.
        unsafe { libc::close(self.pipe) };
        let exited_ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        Some(match (exited_ok, self.done) {
            (true, Some((keys, bytes, cow))) => Outcome::Ok { keys, bytes, cow },
            _ => {
                let why = if libc::WIFSIGNALED(status) {
                    format!("child terminated by signal {}", libc::WTERMSIG(status))
                } else if let Some(e) = &self.error {
                    e.clone()
                } else {
                    format!("child exited with status {}", libc::WEXITSTATUS(status))
                };
                Outcome::Failed(why)
            }
        })
    }

    /// Kills the child (BGSAVE CANCEL, SHUTDOWN); `poll` reaps it.
    pub fn kill(&mut self) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
    }

    /// Kills and reaps the child now (shutdown path).
    pub fn kill_and_wait(&mut self) {
        self.kill();
        let mut status = 0;
        // SAFETY: blocking wait on our own, already killed, child.
        unsafe {
            libc::waitpid(self.pid, &mut status, 0);
            libc::close(self.pipe);
        }
        let _ = std::fs::remove_file(&self.temp_path);
    }
}
