//! Accepting connections and serving one client: read, decode every
//! complete request in the buffer, execute them in order, and send all
//! their replies in one write.

use super::Shared;
use super::client::{Blocked, Client};
use super::stream::{Listener, Peer, Stream};
use crate::error::DENIED;
use crate::protocol::{Decoded, Decoder, Limits, Reply};
use bytes::BytesMut;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Accepts connections until `stop` (a rebind closed the socket), spawning
/// a task per client.
pub(super) async fn accept_loop<L: Listener>(
    listener: L,
    stop: Rc<tokio::sync::Notify>,
    shared: Rc<Shared>,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.notified() => return,
            r = listener.accept() => r,
        };
        let (sock, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and similar: back off briefly.
                tracing::warn!("Accepting client connection: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        sock.prepare(shared.state.borrow().config.tcp_keepalive);
        tokio::task::spawn_local(handle(sock, peer, shared.clone()));
    }
}

async fn refuse<S: Stream>(mut sock: S, msg: &str) {
    let line = format!("-{msg}\r\n");
    let _ = tokio::time::timeout(Duration::from_secs(1), sock.write_all(line.as_bytes())).await;
}

/// Registers a new client, or says why it must be refused.
fn admit<S: Stream>(
    sock: &S,
    peer: Peer,
    shared: &Shared,
) -> Result<Rc<RefCell<Client>>, &'static str> {
    let mut st = shared.state.borrow_mut();
    st.stats.total_connections_received += 1;
    if st.clients.len() >= st.config.maxclients as usize {
        st.stats.rejected_connections += 1;
        return Err("ERR max number of clients reached");
    }
    if st.config.protected_mode && st.config.requirepass.is_none() && !peer.local {
        tracing::warn!(
            "Possible SECURITY ATTACK detected: refused {} in protected mode",
            peer.addr
        );
        return Err(DENIED);
    }
    let id = st.next_client_id;
    st.next_client_id += 1;
    let authenticated = st.config.requirepass.is_none();
    let mut client = Client::new(
        id,
        peer.addr,
        peer.laddr,
        sock.as_raw_fd(),
        authenticated,
        crate::db::now_ms(),
    );
    client.unix = peer.unix;
    client.local = peer.local;
    let c = Rc::new(RefCell::new(client));
    st.links.insert(id, c.borrow().link.clone());
    st.clients.insert(id, c.clone());
    Ok(c)
}

async fn handle<S: Stream>(sock: S, peer: Peer, shared: Rc<Shared>) {
    let client = match admit(&sock, peer, &shared) {
        Ok(c) => c,
        Err(msg) => {
            refuse(sock, msg).await;
            return;
        }
    };
    let id = client.borrow().id;
    serve(sock, &client, &shared).await;
    let mut st = shared.state.borrow_mut();
    st.client_closed(&mut client.borrow_mut());
    st.clients.remove(&id);
    st.links.remove(&id);
}

/// What woke a connection task.
enum Input {
    /// Bytes arrived.
    Read(usize),
    /// A blocked command was served or timed out: replies may be pending and
    /// buffered requests can run again.
    Unblocked,
    /// Still blocked; nothing to do but write what is pending.
    StillBlocked,
    /// The last turn used up its [`Budget`]: the requests still buffered
    /// run now, after the other clients had their turn.
    Continue,
}

/// Work one client may do before the others get a turn, as Redis serves
/// at most one read (16 KB) of each client per event-loop iteration.
/// Large enough that a pipelined batch (16 commands of 1 KB each, or 1000
/// PINGs) runs in one turn with one reply write; small enough that a
/// client flooding pipelined requests delays the others by well under a
/// millisecond per turn. The budget carries over turns until the client
/// yields, so a client whose every read is ready at once cannot monopolise
/// the loop with many small turns either.
struct Budget {
    commands: u32,
    bytes: usize,
}

impl Budget {
    const COMMANDS: u32 = 1024;
    const BYTES: usize = 128 * 1024;

    fn full() -> Budget {
        Budget {
            commands: Self::COMMANDS,
            bytes: Self::BYTES,
        }
    }

    /// Records one request of `bytes`; false once the budget is used up.
    fn spend(&mut self, bytes: usize) -> bool {
        self.commands = self.commands.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(bytes);
        self.commands > 0 && self.bytes > 0
    }
}

/// Pending output below which the output limits are checked only at the
/// end of a turn: a turn's replies then cost at most this much more than
/// the limit allows.
const REPLY_CHECK_MIN: usize = 16 * 1024;

/// Largest query buffer of a client that has not authenticated on a
/// password-protected server (Redis closes it past 1 MB as well).
const UNAUTH_QUERY_MAX: usize = 1 << 20;

/// Largest buffer [`read_more`] grows to in one turn.
const GREEDY_READ_MAX: usize = 1 << 20;

/// After a read that filled the buffer, reads what else the socket already
/// holds (growing the buffer, without waiting), so a pipelined batch larger
/// than the buffer runs in one turn with one reply write, as Redis reads
/// "as much as possible". Without it a batch of 16 1 KB SETs (17 KB) took
/// two reads, two executions and two writes. Returns the bytes read.
fn read_more<S: Stream>(sock: &S, buf: &mut BytesMut) -> usize {
    let mut total = 0;
    while buf.len() == buf.capacity() && buf.len() < GREEDY_READ_MAX {
        buf.reserve(buf.len().max(16 * 1024));
        match sock.try_read_buf(buf) {
            Ok(n) if n > 0 => total += n,
            // EOF and errors show up on the next read; would-block ends it.
            _ => break,
        }
    }
    total
}

/// Waits for input, or, while the client is blocked on keys, for its
/// command to be served, to time out, or for the client to go away; or,
/// while its command is `postponed` by CLIENT PAUSE, for the pause to end.
/// Returns None when the connection must close.
async fn next_input<S: Stream>(
    sock: &mut S,
    buf: &mut BytesMut,
    client: &Rc<RefCell<Client>>,
    shared: &Rc<Shared>,
    wake: &tokio::sync::Notify,
    postponed: bool,
    last_read: usize,
) -> Option<Input> {
    // Room for at least as much as the last read brought: a client that
    // pipelines batches larger than 16 KB gets each in one read.
    let want = last_read.clamp(16 * 1024, GREEDY_READ_MAX);
    if buf.capacity() - buf.len() < 4096 || (buf.is_empty() && buf.capacity() < want) {
        buf.reserve(want);
    }
    if postponed {
        return pause_ended(sock, buf, client, shared, wake).await;
    }
    let blocked = client.borrow().blocked.as_ref().map(|b| b.deadline);
    let Some(deadline) = blocked else {
        let timeout = shared.state.borrow().config.timeout;
        let read = async {
            if timeout > 0 {
                match tokio::time::timeout(Duration::from_secs(timeout), sock.read_buf(buf)).await {
                    Ok(r) => r,
                    Err(_) => {
                        tracing::debug!("Closing idle client");
                        Ok(0)
                    }
                }
            } else {
                sock.read_buf(buf).await
            }
        };
        let input = tokio::select! {
            r = read => match r {
                Ok(0) | Err(_) => None,
                Ok(n) => Some(Input::Read(n)),
            },
            _ = wake.notified() => if client.borrow().link.is_killed() { None } else { Some(Input::Unblocked) },
        };
        return match input {
            Some(Input::Read(n)) => Some(Input::Read(n + read_more(sock, buf))),
            other => other,
        };
    };
    let expire = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = wake.notified() => {
            let c = client.borrow();
            if c.link.is_killed() {
                None
            } else if c.blocked.is_some() {
                Some(Input::StillBlocked)
            } else {
                Some(Input::Unblocked)
            }
        }
        _ = expire => {
            let mut st = shared.state.borrow_mut();
            let mut c = client.borrow_mut();
            if let Some(b) = c.blocked.take() {
                st.blocking.unblock(c.id, b.db, &b.keys);
                crate::cmd::count_unserved(&mut st, &b.args);
                c.send(&b.on_timeout);
            }
            Some(Input::Unblocked)
        }
        // While blocked, input is only buffered (and EOF noticed).
        r = sock.read_buf(buf) => match r {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(Input::StillBlocked),
        },
    }
}

/// Waits until the CLIENT PAUSE holding the client's command may have
/// ended: CLIENT UNPAUSE woke it, or the pause's end passed (the command
/// is then tried again and waits anew if a pause still holds it). Input is
/// only buffered meanwhile.
async fn pause_ended<S: Stream>(
    sock: &mut S,
    buf: &mut BytesMut,
    client: &Rc<RefCell<Client>>,
    shared: &Rc<Shared>,
    wake: &tokio::sync::Notify,
) -> Option<Input> {
    let end = shared.state.borrow().pause.end_ms();
    let until_end = async {
        if let Some(end) = end {
            let ms = (end - crate::db::now_ms()).max(0) as u64 + 1;
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    };
    tokio::select! {
        _ = wake.notified() => if client.borrow().link.is_killed() { None } else { Some(Input::Unblocked) },
        _ = until_end => Some(Input::Unblocked),
        r = sock.read_buf(buf) => match r {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(Input::StillBlocked),
        },
    }
}

/// Writes the client's output buffer until it is empty, including what
/// other clients' turns append meanwhile. Returns false when the connection
/// must close (write error, or the client was killed while its output
/// waited, e.g. for overrunning its output buffer limit).
async fn flush<S: Stream>(
    sock: &mut S,
    client: &Rc<RefCell<Client>>,
    shared: &Rc<Shared>,
    wake: &tokio::sync::Notify,
) -> bool {
    loop {
        let chunks = {
            let mut c = client.borrow_mut();
            if c.link.is_killed() {
                return false;
            }
            c.reply_peak = c.reply_peak.max(c.out.buffered());
            let chunks = c.out.take();
            if chunks.is_empty() {
                return true;
            }
            let n: usize = chunks.iter().map(|b| b.len()).sum();
            c.inflight = n;
            c.inflight_chunks = chunks.len();
            c.net_out += n as u64;
            let mut st = shared.state.borrow_mut();
            st.stats.total_writes_processed += 1;
            st.stats.total_net_output_bytes += n as u64;
            chunks
        };
        for chunk in chunks {
            let mut pos = 0;
            while pos < chunk.len() {
                // `write` is cancel safe: if the wake wins, nothing was sent.
                tokio::select! {
                    r = sock.write(&chunk[pos..]) => match r {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => {
                            pos += n;
                            client.borrow_mut().inflight -= n;
                        }
                    },
                    _ = wake.notified() => {
                        // New output is picked up after this batch; an
                        // unblocked client is resumed by the caller.
                        if client.borrow().link.is_killed() {
                            return false;
                        }
                    }
                }
            }
            let mut c = client.borrow_mut();
            c.inflight_chunks = c.inflight_chunks.saturating_sub(1);
        }
    }
}

/// Pipelined requests whose keys are prefetched before a batch runs.
const PREFETCH_MAX: usize = 32;

/// Starts fetching the hash buckets, then the first entries, of the keys of
/// the pipelined requests waiting in `buf`: their lookups' cache misses then
/// overlap instead of stalling the batch one key after another (a random
/// key in a large keyspace costs two misses: bucket and entry).
fn prefetch_keys<V>(dict: &crate::db::Dict<V>, buf: &[u8]) {
    if dict.len() < PREFETCH_MIN_KEYS {
        return;
    }
    let mut hashes = [0usize; PREFETCH_MAX];
    let mut n = 0;
    crate::protocol::peek_first_keys(buf, PREFETCH_MAX, |k| {
        hashes[n] = dict.prefetch(k);
        n += 1;
    });
    if n > 1 {
        for &h in &hashes[..n] {
            dict.prefetch_chain(h);
        }
    }
}

/// Below this many keys the table fits in the caches: nothing to gain.
const PREFETCH_MIN_KEYS: usize = 1 << 16;

/// Removes a closing client from the blocking lists.
fn forget_blocked(client: &Rc<RefCell<Client>>, shared: &Rc<Shared>) {
    let mut c = client.borrow_mut();
    if let Some(b) = c.blocked.take() {
        let mut st = shared.state.borrow_mut();
        st.blocking.unblock(c.id, b.db, &b.keys);
        crate::cmd::count_unserved(&mut st, &b.args);
    }
}

async fn serve<S: Stream>(mut sock: S, client: &Rc<RefCell<Client>>, shared: &Rc<Shared>) {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let link = client.borrow().link.clone();
    let wake = &link.wake;
    // Lower bound on the buffer length at which decoding can make progress.
    let mut need = 1usize;
    // True when the last turn ended with the client parked on keys.
    let mut parked = false;
    // Bytes the last read brought (sizes the next one).
    let mut last_read = 0usize;
    // A request CLIENT PAUSE holds back; it runs before anything after it.
    let mut pending: Option<Vec<bytes::Bytes>> = None;
    // Where decoding of a partly arrived request stopped.
    let mut decoder = Decoder::default();
    let mut budget = Budget::full();
    // True when the last turn stopped because its budget ran out.
    let mut more = false;
    loop {
        let input = if parked && client.borrow().blocked.is_none() {
            // Served while its output was being written: the wake that said
            // so may have been used up there, so resume at once.
            Some(Input::Unblocked)
        } else if more && pending.is_none() && client.borrow().blocked.is_none() {
            // Let every other ready client (and the timers) run first.
            tokio::task::yield_now().await;
            budget = Budget::full();
            more = false;
            Some(Input::Continue)
        } else {
            let postponed = pending.is_some();
            next_input(
                &mut sock, &mut buf, client, shared, wake, postponed, last_read,
            )
            .await
        };
        let Some(input) = input else {
            forget_blocked(client, shared);
            return;
        };
        let mut close = false;
        // Set when the connection must end without writing anything more.
        let mut drop_client = false;
        'turn: {
            let mut st = shared.state.borrow_mut();
            let st = &mut *st;
            let mut c = client.borrow_mut();
            if c.link.is_killed() {
                drop_client = true;
                break 'turn;
            }
            match input {
                Input::Read(n) => {
                    last_read = n;
                    st.stats.total_net_input_bytes += n as u64;
                    st.stats.total_reads_processed += 1;
                    c.net_in += n as u64;
                }
                Input::Unblocked => need = 1,
                Input::StillBlocked | Input::Continue => {}
            }
            if buf.len() as u64 > st.config.client_query_buffer_limit
                || (!c.authenticated && buf.len() > UNAUTH_QUERY_MAX)
            {
                tracing::warn!(
                    "Closing client that reached max query buffer length: id={} addr={} (qbuf={})",
                    c.id,
                    c.addr,
                    buf.len()
                );
                st.stats.client_qbuf_limit_disconnections += 1;
                drop_client = true;
                break 'turn;
            }
            let runnable = match pending {
                Some(_) => matches!(input, Input::Unblocked),
                None => buf.len() >= need,
            };
            if c.blocked.is_none() && runnable {
                // As Redis's query buffer, ours holds the whole batch until
                // it has run (CLIENT LIST from inside it shows so).
                c.qbuf = buf.len();
                c.qbuf_free = buf.capacity() - buf.len();
                // One clock read per batch: pipelined commands share it.
                let now = crate::db::now_ms();
                if let Some(d) = st.ks.dbs.get(c.db) {
                    prefetch_keys(d.table(), &buf);
                }
                loop {
                    let limits = Limits {
                        max_bulk_len: st.config.proto_max_bulk_len.min(i64::MAX as u64) as i64,
                        unauthenticated: !c.authenticated,
                    };
                    let before = buf.len();
                    let decoded = match pending.take() {
                        Some(args) => Ok(Decoded::Request(args)),
                        None => decoder.decode(&mut buf, limits),
                    };
                    match decoded {
                        Ok(Decoded::Request(args)) => {
                            need = 1;
                            let spent = budget.spend(before - buf.len());
                            c.argv_mem = args.iter().map(|a| a.len()).sum();
                            let outcome = crate::cmd::execute(st, &mut c, &args, now);
                            if let crate::cmd::Outcome::Postponed = outcome {
                                // Held by CLIENT PAUSE: it and the rest of the
                                // pipeline wait for the pause to end.
                                pending = Some(args);
                                break;
                            }
                            c.argv_mem = 0;
                            if let crate::cmd::Outcome::Blocked = outcome
                                && let Some(req) = c.block_request.take()
                            {
                                // Park the client; the rest of its pipeline
                                // waits until it is served.
                                let deadline = req.timeout.map(|d| tokio::time::Instant::now() + d);
                                st.blocking.block(c.id, c.db, &req.keys);
                                let db = c.db;
                                c.blocked = Some(Blocked {
                                    args: req.rerun.unwrap_or(args),
                                    db,
                                    keys: req.keys,
                                    deadline,
                                    on_timeout: req.on_timeout,
                                });
                                break;
                            }
                            if let crate::cmd::Outcome::Reply(reply) = outcome {
                                c.send(&reply);
                            }
                            st.tracking_after_command(&mut c);
                            if !st.blocking.is_empty() {
                                crate::cmd::serve_blocked(st, now);
                            }
                            st.flush_deferred(&mut c);
                            if st.shutdown.is_some() {
                                shared.shutdown.notify_one();
                            }
                            // Checked after every reply, as Redis does: a
                            // pipeline of big replies to a client that does
                            // not read stops at the limit, not at the end of
                            // the batch. A client marked for closing runs
                            // nothing more. Below 16 KB (one reply buffer)
                            // the check waits for the end of the turn.
                            if c.output_bytes() > REPLY_CHECK_MIN {
                                st.enforce_output_limit(&mut c);
                            }
                            if c.close_after_reply || c.link.is_killed() {
                                close = true;
                                break;
                            }
                            if !spent {
                                more = true;
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
                            c.send(&Reply::Error(text));
                            close = true;
                            break;
                        }
                    }
                }
            }
            // Broadcast invalidations for this turn's changes, in one batch.
            st.tracking_end_of_turn(Some(&mut c));
            c.qbuf = buf.len();
            c.qbuf_free = buf.capacity() - buf.len();
            st.enforce_output_limit(&mut c);
            if c.link.is_killed() {
                drop_client = true;
                break 'turn;
            }
            parked = c.blocked.is_some();
        }
        if drop_client {
            forget_blocked(client, shared);
            return;
        }
        if !flush(&mut sock, client, shared, wake).await {
            forget_blocked(client, shared);
            return;
        }
        if close {
            let _ = sock.shutdown().await;
            forget_blocked(client, shared);
            return;
        }
        if buf.is_empty() && buf.capacity() > (4 * last_read).max(64 * 1024) {
            // Give back memory after a large request.
            buf = BytesMut::with_capacity(16 * 1024);
            decoder.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    #[test]
    fn local_clients_are_exactly_redis_ones() {
        let local = |s: &str| super::super::stream::is_local(&s.parse().unwrap());
        assert!(local("127.0.0.1:5000"));
        assert!(local("[::1]:5000"));
        assert!(local("[::ffff:127.0.0.1]:5000"));
        // The rest of 127.0.0.0/8 is loopback but not local to Redis.
        assert!(!local("127.0.0.2:5000"));
        assert!(!local("[::ffff:127.0.0.2]:5000"));
        assert!(!local("10.0.0.1:5000"));
        assert!(!local("[fe80::1]:5000"));
    }

    #[test]
    fn a_batch_larger_than_the_buffer_is_read_in_one_turn() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut writer = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (mut reader, _) = listener.accept().await.unwrap();
            let batch = vec![b'x'; 40 * 1024];
            writer.write_all(&batch).await.unwrap();
            // Let the whole batch reach the receiving socket.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut buf = BytesMut::with_capacity(16 * 1024);
            let first = reader.read_buf(&mut buf).await.unwrap();
            assert_eq!(first, 16 * 1024);
            let more = read_more(&reader, &mut buf);
            assert_eq!(first + more, batch.len());
            assert_eq!(buf.len(), batch.len());
            // Nothing left: no read beyond what the socket holds.
            assert_eq!(read_more(&reader, &mut buf), 0);
        });
    }
}
