//! The two kinds of client connection, TCP and Unix domain socket, behind
//! one pair of traits, so accepting and serving a client ([`super::conn`])
//! is written once for both.

use bytes::BytesMut;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// A connected client socket.
pub(super) trait Stream: AsyncRead + AsyncWrite + Unpin + AsRawFd + 'static {
    /// Reads what the socket already holds into `buf`, without waiting
    /// (`WouldBlock` when it holds nothing).
    fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize>;

    /// Socket options for a client just accepted; `keepalive` is
    /// `tcp-keepalive` (0 = off), read then so `CONFIG SET` applies to the
    /// next connection, as in Redis.
    fn prepare(&self, _keepalive: u64) {}
}

impl Stream for TcpStream {
    fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        TcpStream::try_read_buf(self, buf)
    }

    fn prepare(&self, keepalive: u64) {
        let _ = self.set_nodelay(true);
        if keepalive > 0 {
            set_keepalive(self.as_raw_fd(), keepalive);
        }
    }
}

impl Stream for UnixStream {
    fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        UnixStream::try_read_buf(self, buf)
    }
}

/// Who is on the other end of a new connection, as CLIENT LIST and
/// protected mode see it.
pub(super) struct Peer {
    /// `addr=`: `ip:port`, or `<unixsocket>:0` for a Unix socket client.
    pub addr: String,
    /// `laddr=`: the local end, in the same form.
    pub laddr: String,
    /// Local as Redis's `islocalClient` says (exactly `127.0.0.1` or `::1`,
    /// or a Unix socket): protected mode lets it in, `local` gates allow it.
    pub local: bool,
    /// Connected over the Unix socket (CLIENT LIST flag `U`).
    pub unix: bool,
}

/// A listening socket of either kind.
pub(super) trait Listener: 'static {
    /// The sockets it accepts.
    type Stream: Stream;

    /// Waits for the next connection.
    fn accept(&self) -> impl std::future::Future<Output = io::Result<(Self::Stream, Peer)>>;
}

impl Listener for TcpListener {
    type Stream = TcpStream;

    async fn accept(&self) -> io::Result<(TcpStream, Peer)> {
        let (sock, peer) = TcpListener::accept(self).await?;
        let laddr = sock.local_addr().map(fmt_addr).unwrap_or_default();
        let peer = Peer {
            addr: fmt_addr(peer),
            laddr,
            local: is_local(&peer),
            unix: false,
        };
        Ok((sock, peer))
    }
}

/// The Unix socket listener, with the path as configured (clients show it
/// as their address, as in Redis).
pub(super) struct UnixSocketListener {
    pub listener: UnixListener,
    pub name: String,
}

impl Listener for UnixSocketListener {
    type Stream = UnixStream;

    async fn accept(&self) -> io::Result<(UnixStream, Peer)> {
        let (sock, _) = self.listener.accept().await?;
        let addr = format!("{}:0", self.name);
        let peer = Peer {
            laddr: addr.clone(),
            addr,
            local: true,
            unix: true,
        };
        Ok((sock, peer))
    }
}

/// `ip:port`, with IPv6 addresses unbracketed, as Redis prints them.
fn fmt_addr(a: std::net::SocketAddr) -> String {
    match a {
        std::net::SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        std::net::SocketAddr::V6(v) => format!("{}:{}", v.ip(), v.port()),
    }
}

/// Redis's `islocalClient` for a TCP peer: exactly `127.0.0.1` or `::1`
/// (not the rest of 127.0.0.0/8). An IPv4-mapped `::ffff:127.0.0.1` counts
/// too: Redis never sees one (its IPv6 listeners are IPv6-only), so it is
/// the same peer as `127.0.0.1`.
pub fn is_local(a: &std::net::SocketAddr) -> bool {
    const LOCAL4: std::net::Ipv4Addr = std::net::Ipv4Addr::LOCALHOST;
    match a.ip() {
        std::net::IpAddr::V4(v) => v == LOCAL4,
        std::net::IpAddr::V6(v) => {
            v == std::net::Ipv6Addr::LOCALHOST || v.to_ipv4_mapped() == Some(LOCAL4)
        }
    }
}

/// TCP keepalive as Redis's `anetKeepAlive` sets it: the first probe after
/// `interval` seconds of silence, then one every `interval / 3` seconds,
/// and the connection is dropped after three unanswered probes. A peer
/// that vanished is then noticed even with `timeout 0`. Failures are
/// ignored, as Redis ignores them.
fn set_keepalive(fd: RawFd, interval: u64) {
    let interval = interval.min(i32::MAX as u64) as libc::c_int;
    let opts = [
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1),
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, interval),
        (
            libc::IPPROTO_TCP,
            libc::TCP_KEEPINTVL,
            (interval / 3).max(1),
        ),
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3),
    ];
    for (level, name, value) in opts {
        // SAFETY: setsockopt on a socket we own, with a valid int option.
        let r = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                &value as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            tracing::debug!("setting TCP keepalive: {}", std::io::Error::last_os_error());
            return;
        }
    }
}
