//! Accepting connections and serving one client: read, decode every
//! complete request in the buffer, execute them in order, and send all
//! their replies in one write.

use super::Shared;
use super::client::Client;
use crate::error::DENIED;
use crate::protocol::{Decoded, Limits, Output, Reply, decode};
use bytes::BytesMut;
use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Accepts connections forever, spawning a task per client.
pub async fn accept_loop(listener: TcpListener, shared: Rc<Shared>) {
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and similar: back off briefly.
                tracing::warn!("Accepting client connection: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = sock.set_nodelay(true);
        tokio::task::spawn_local(handle(sock, peer, shared.clone()));
    }
}

fn fmt_addr(a: std::net::SocketAddr) -> String {
    match a {
        std::net::SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        std::net::SocketAddr::V6(v) => format!("{}:{}", v.ip(), v.port()),
    }
}

fn is_loopback(a: &std::net::SocketAddr) -> bool {
    match a.ip() {
        std::net::IpAddr::V4(v) => v.is_loopback(),
        std::net::IpAddr::V6(v) => {
            v.is_loopback() || v.to_ipv4_mapped().is_some_and(|m| m.is_loopback())
        }
    }
}

async fn refuse(mut sock: TcpStream, msg: &str) {
    let line = format!("-{msg}\r\n");
    let _ = tokio::time::timeout(Duration::from_secs(1), sock.write_all(line.as_bytes())).await;
}

/// Registers a new client, or says why it must be refused.
fn admit(
    sock: &TcpStream,
    peer: std::net::SocketAddr,
    shared: &Shared,
) -> Result<Rc<RefCell<Client>>, &'static str> {
    let mut st = shared.state.borrow_mut();
    st.stats.total_connections_received += 1;
    if st.clients.len() >= st.config.maxclients as usize {
        st.stats.rejected_connections += 1;
        return Err("ERR max number of clients reached");
    }
    if st.config.protected_mode && st.config.requirepass.is_none() && !is_loopback(&peer) {
        tracing::warn!("Possible SECURITY ATTACK detected: refused {peer} in protected mode");
        return Err(DENIED);
    }
    let id = st.next_client_id;
    st.next_client_id += 1;
    let laddr = sock.local_addr().map(fmt_addr).unwrap_or_default();
    let authenticated = st.config.requirepass.is_none();
    let c = Rc::new(RefCell::new(Client::new(
        id,
        fmt_addr(peer),
        laddr,
        sock.as_raw_fd(),
        authenticated,
        crate::db::now_ms(),
    )));
    st.clients.insert(id, c.clone());
    Ok(c)
}

async fn handle(sock: TcpStream, peer: std::net::SocketAddr, shared: Rc<Shared>) {
    let client = match admit(&sock, peer, &shared) {
        Ok(c) => c,
        Err(msg) => {
            refuse(sock, msg).await;
            return;
        }
    };
    let id = client.borrow().id;
    serve(sock, &client, &shared).await;
    shared.state.borrow_mut().clients.remove(&id);
}

/// Why a connection ends.
enum Close {
    /// Peer closed, error, or a protocol violation (already answered).
    Done,
}

async fn serve(mut sock: TcpStream, client: &Rc<RefCell<Client>>, shared: &Rc<Shared>) -> Close {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut out = Output::default();
    let wake = client.borrow().wake.clone();
    // Lower bound on the buffer length at which decoding can make progress.
    let mut need = 1usize;
    loop {
        let timeout = shared.state.borrow().config.timeout;
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        let read = async {
            if timeout > 0 {
                match tokio::time::timeout(Duration::from_secs(timeout), sock.read_buf(&mut buf))
                    .await
                {
                    Ok(r) => r,
                    Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "idle")),
                }
            } else {
                sock.read_buf(&mut buf).await
            }
        };
        let n = tokio::select! {
            r = read => match r {
                Ok(0) => return Close::Done,
                Ok(n) => n,
                Err(e) => {
                    if e.kind() == std::io::ErrorKind::TimedOut {
                        tracing::debug!("Closing idle client");
                    }
                    return Close::Done;
                }
            },
            _ = wake.notified() => return Close::Done,
        };
        let mut close = false;
        {
            let mut st = shared.state.borrow_mut();
            let st = &mut *st;
            st.stats.total_net_input_bytes += n as u64;
            st.stats.total_reads_processed += 1;
            let mut c = client.borrow_mut();
            if c.killed {
                return Close::Done;
            }
            c.net_in += n as u64;
            if buf.len() as u64 > st.config.client_query_buffer_limit {
                tracing::warn!(
                    "Closing client that reached max query buffer length: id={} addr={} (qbuf={})",
                    c.id,
                    c.addr,
                    buf.len()
                );
                st.stats.client_qbuf_limit_disconnections += 1;
                return Close::Done;
            }
            if buf.len() >= need {
                // One clock read per batch: pipelined commands share it.
                let now = crate::db::now_ms();
                loop {
                    let limits = Limits {
                        max_bulk_len: st.config.proto_max_bulk_len.min(i64::MAX as u64) as i64,
                        unauthenticated: !c.authenticated,
                    };
                    match decode(&mut buf, limits) {
                        Ok(Decoded::Request(args)) => {
                            need = 1;
                            if let Some(reply) = crate::cmd::execute(st, &mut c, &args, now) {
                                out.encode(&reply, c.resp);
                            }
                            if st.shutdown.is_some() {
                                shared.shutdown.notify_one();
                            }
                            if c.close_after_reply || c.killed {
                                close = true;
                                break;
                            }
                        }
                        Ok(Decoded::Incomplete(n)) => {
                            need = n;
                            break;
                        }
                        Err(e) => {
                            let text = e.text();
                            tracing::debug!(
                                "Protocol error ({}) from client: id={} addr={}",
                                e.0,
                                c.id,
                                c.addr
                            );
                            st.count_error(&text);
                            out.encode(&Reply::Error(text), c.resp);
                            close = true;
                            break;
                        }
                    }
                }
            }
            c.qbuf = buf.len();
            c.omem = out.len();
            let written = out.len() as u64;
            if written > 0 {
                st.stats.total_writes_processed += 1;
            }
            c.net_out += written;
            st.stats.total_net_output_bytes += written;
        }
        for chunk in out.take() {
            if sock.write_all(&chunk).await.is_err() {
                return Close::Done;
            }
        }
        if close {
            let _ = sock.shutdown().await;
            return Close::Done;
        }
        if buf.is_empty() && buf.capacity() > 64 * 1024 {
            // Give back memory after a large request.
            buf = BytesMut::with_capacity(16 * 1024);
        }
    }
}
