//! Listening sockets: binding the `bind` addresses on `port`, the Unix
//! socket (`unixsocket`), the accept loops, and rebinding at run time
//! (`CONFIG SET port` / `bind`; port 0 closes the TCP listeners).
//!
//! Addresses must be IP literals: binding never resolves a name, which
//! would run on a helper thread. A rebind opens every new socket before it
//! closes an old one, and changes nothing if one cannot be opened, so a
//! failed `CONFIG SET port` leaves the server listening where it was.
//! Sockets are opened synchronously inside the command; a small task
//! ([`supervise`]) starts their accept loops, because only it holds the
//! shared state those loops need.

use super::Shared;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use tokio::sync::Notify;

/// A socket that is listening (or about to, once its accept loop starts).
struct Active {
    /// The address asked for (port 0 stays 0 here).
    addr: SocketAddr,
    /// The port actually bound.
    port: u16,
    fd: RawFd,
    /// Ends the accept loop, which then drops (closes) the socket.
    stop: Rc<Notify>,
}

/// The Unix socket listener.
struct UnixActive {
    /// The socket file, removed at shutdown.
    path: PathBuf,
    fd: RawFd,
}

/// The server's listening sockets.
#[derive(Default)]
pub struct Listeners {
    active: Vec<Active>,
    /// Opened by a rebind; [`supervise`] starts their accept loops.
    pending: Vec<(std::net::TcpListener, Rc<Notify>)>,
    unix: Option<UnixActive>,
    /// Opened by [`Listeners::open_unix`], with the path as configured;
    /// [`supervise`] starts its accept loop.
    unix_pending: Option<(std::os::unix::net::UnixListener, String)>,
    /// Wakes [`supervise`].
    wake: Rc<Notify>,
}

impl Listeners {
    /// Descriptors of every listening socket (a fork child closes them).
    pub fn fds(&self) -> Vec<RawFd> {
        let unix = self.unix.as_ref().map(|u| u.fd);
        self.active.iter().map(|a| a.fd).chain(unix).collect()
    }

    /// True when the server listens nowhere (no TCP socket, no Unix socket).
    pub fn is_empty(&self) -> bool {
        self.active.is_empty() && self.unix.is_none()
    }

    /// Serves clients on the Unix socket `path` (`name` is the path as
    /// configured, which clients show as their address). As Redis: a file
    /// left at `path` is removed first, and the socket gets `perm` unless
    /// it is 0. The error is Redis's reason, for the log.
    pub fn open_unix(
        &mut self,
        path: &Path,
        name: &str,
        perm: u32,
        backlog: u32,
    ) -> Result<(), String> {
        let l = listen_unix(path, perm, backlog)?;
        self.unix = Some(UnixActive {
            path: path.to_path_buf(),
            fd: l.as_raw_fd(),
        });
        self.unix_pending = Some((l, name.to_string()));
        self.wake.notify_one();
        Ok(())
    }

    /// At shutdown: removes the Unix socket file, as Redis does (the socket
    /// itself closes when the process exits).
    pub fn remove_unix_socket(&mut self) {
        if let Some(u) = self.unix.take() {
            tracing::info!("Removing the unix socket file.");
            if let Err(e) = std::fs::remove_file(&u.path) {
                tracing::warn!("Error removing the unix socket file: {e}");
            }
        }
    }

    /// The port of the first socket as bound (the real one for port 0).
    pub fn first_port(&self) -> Option<u16> {
        self.active.first().map(|a| a.port)
    }

    /// Listens on every entry of `bind` at `port`, keeping the sockets
    /// already open on an address that stays, and closing the others. On
    /// error nothing changes; the error lists what failed, for the log.
    pub fn rebind(&mut self, bind: &[String], port: u16, backlog: u32) -> Result<(), String> {
        let mut keep: Vec<usize> = Vec::new();
        let mut opened: Vec<(SocketAddr, std::net::TcpListener)> = Vec::new();
        for entry in bind {
            let (addr, optional) = bind_addr(entry, port)?;
            if let Some(i) = self.active.iter().position(|a| a.addr == addr) {
                keep.push(i);
                continue;
            }
            match listen(addr, backlog) {
                Ok(l) => opened.push((addr, l)),
                Err(e) if optional => {
                    tracing::debug!("skipping optional bind {addr}: {e}");
                }
                // Dropping `opened` closes what this call opened.
                Err(e) => {
                    return Err(format!(
                        "Could not create server TCP listening socket {addr}: {e}"
                    ));
                }
            }
        }
        let old = std::mem::take(&mut self.active);
        for (i, a) in old.into_iter().enumerate() {
            if keep.contains(&i) {
                self.active.push(a);
            } else {
                // Stop listening now, not when the accept loop next runs: a
                // client told the port moved must find the old one closed.
                // SAFETY: shutdown of a socket we own; it stays open until
                // its accept loop drops it.
                unsafe { libc::shutdown(a.fd, libc::SHUT_RDWR) };
                a.stop.notify_one();
            }
        }
        for (addr, l) in opened {
            let stop = Rc::new(Notify::new());
            self.active.push(Active {
                addr,
                port: l.local_addr().map_or(addr.port(), |a| a.port()),
                fd: l.as_raw_fd(),
                stop: stop.clone(),
            });
            self.pending.push((l, stop));
        }
        self.wake.notify_one();
        Ok(())
    }
}

/// Starts the accept loops of the sockets each rebind opens, for as long as
/// the server runs.
pub async fn supervise(shared: Rc<Shared>) {
    let wake = shared.state.borrow().listeners.wake.clone();
    loop {
        let (pending, unix) = {
            let mut st = shared.state.borrow_mut();
            let l = &mut st.listeners;
            (std::mem::take(&mut l.pending), l.unix_pending.take())
        };
        if let Some((l, name)) = unix {
            match tokio::net::UnixListener::from_std(l) {
                Ok(listener) => {
                    tracing::info!("listening on {name}");
                    let l = super::stream::UnixSocketListener { listener, name };
                    // The Unix socket stays open until the process exits.
                    let stop = Rc::new(Notify::new());
                    tokio::task::spawn_local(super::conn::accept_loop(l, stop, shared.clone()));
                }
                Err(e) => tracing::warn!("cannot watch the unix socket: {e}"),
            }
        }
        for (l, stop) in pending {
            match tokio::net::TcpListener::from_std(l) {
                Ok(l) => {
                    if let Ok(a) = l.local_addr() {
                        tracing::info!("listening on {a}");
                    }
                    tokio::task::spawn_local(super::conn::accept_loop(l, stop, shared.clone()));
                }
                Err(e) => tracing::warn!("cannot watch a listening socket: {e}"),
            }
        }
        wake.notified().await;
    }
}

/// Parses a `bind` entry. Only IP literals are accepted so that binding
/// never resolves names (which would run on a helper thread).
fn bind_addr(entry: &str, port: u16) -> Result<(SocketAddr, bool), String> {
    let (optional, addr) = match entry.strip_prefix('-') {
        Some(a) => (true, a),
        None => (false, entry),
    };
    let ip: IpAddr = match addr {
        "*" => IpAddr::from([0u8; 4]),
        "::*" => IpAddr::from([0u16; 8]),
        a => a.parse().map_err(|_| {
            format!("bind address '{a}' is not an IP address (host names are not resolved)")
        })?,
    };
    Ok((SocketAddr::new(ip, port), optional))
}

/// Opens a non-blocking listening socket; registering it with the event
/// loop is left to [`supervise`], so this needs no runtime.
fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<std::net::TcpListener> {
    let sock = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        let s = tokio::net::TcpSocket::new_v6()?;
        // Listen on IPv6 only so `*` and `::*` can both be bound.
        let one: libc::c_int = 1;
        // SAFETY: setsockopt on a socket we own with a valid int option.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                &one as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        s
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    let fd = sock.into_raw_fd();
    // SAFETY: `fd` is the socket just bound, now owned by the std listener
    // (which closes it if listen fails).
    let l = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    let backlog = backlog.min(i32::MAX as u32) as libc::c_int;
    // SAFETY: listen(2) on a socket we own.
    if unsafe { libc::listen(fd, backlog) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Longest Unix socket path (`sun_path` holds it with its final NUL).
const SUN_PATH_MAX: usize = 108;

/// Opens a non-blocking Unix socket listening at `path`, as Redis's
/// `anetUnixServer`: whatever is at `path` is unlinked first, the socket
/// is bound, given `perm` (unless 0) and listens with `backlog`.
fn listen_unix(
    path: &Path,
    perm: u32,
    backlog: u32,
) -> Result<std::os::unix::net::UnixListener, String> {
    let len = path.as_os_str().as_bytes().len();
    if len > SUN_PATH_MAX - 1 {
        return Err(format!(
            "unix socket path too long ({len}), must be under {SUN_PATH_MAX}"
        ));
    }
    // A socket file left by a server that did not shut down cleanly.
    let _ = std::fs::remove_file(path);
    let sock = tokio::net::UnixSocket::new_stream().map_err(|e| format!("socket: {e}"))?;
    sock.bind(path).map_err(|e| format!("bind: {e}"))?;
    if perm != 0 {
        use std::os::unix::fs::PermissionsExt;
        // Best effort, as in Redis.
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(perm));
    }
    let fd = sock.into_raw_fd();
    // SAFETY: `fd` is the socket just bound, now owned by the std listener
    // (which closes it if listen fails).
    let l = unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) };
    let backlog = backlog.min(i32::MAX as u32) as libc::c_int;
    // SAFETY: listen(2) on a socket we own.
    if unsafe { libc::listen(fd, backlog) } != 0 {
        return Err(format!("listen: {}", std::io::Error::last_os_error()));
    }
    l.set_nonblocking(true)
        .map_err(|e| format!("listen: {e}"))?;
    Ok(l)
}
