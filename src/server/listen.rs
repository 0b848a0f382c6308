//! Listening sockets: binding the `bind` addresses on `port`, the accept
//! loops, and rebinding at run time (`CONFIG SET port` / `bind`).
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

/// The server's listening sockets.
#[derive(Default)]
pub struct Listeners {
    active: Vec<Active>,
    /// Opened by a rebind; [`supervise`] starts their accept loops.
    pending: Vec<(std::net::TcpListener, Rc<Notify>)>,
    /// Wakes [`supervise`].
    wake: Rc<Notify>,
}

impl Listeners {
    /// Descriptors of every listening socket (a fork child closes them).
    pub fn fds(&self) -> Vec<RawFd> {
        self.active.iter().map(|a| a.fd).collect()
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
        let pending = std::mem::take(&mut shared.state.borrow_mut().listeners.pending);
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
