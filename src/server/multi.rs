//! Transaction state: a client's open MULTI queue and its WATCH marks
//! (`dirty_cas`), and the operations other clients' writes apply to them.
//! The commands (MULTI, EXEC, DISCARD, WATCH, UNWATCH) and the queueing
//! live in `cmd::multi`.

use super::client::Client;
use super::state::ServerState;
use crate::cmd::{Command, flags};
use bytes::Bytes;

/// A client's open transaction.
#[derive(Default, Debug)]
pub struct MultiState {
    /// Queued commands with their arguments.
    pub commands: Vec<(&'static Command, Vec<Bytes>)>,
    /// A command was refused while queueing: EXEC must abort.
    pub dirty_exec: bool,
    /// Union of the queued commands' flags.
    pub flags: u32,
    /// Bytes of queued arguments (CLIENT LIST `multi-mem`).
    pub arg_bytes: usize,
}

impl MultiState {
    /// True if a queued command may write or replicate (EXEC then counts as
    /// such for CLIENT PAUSE WRITE and write refusals).
    pub fn writes(&self) -> bool {
        self.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0
    }
}

/// Ends the transaction and drops the watched keys.
pub fn discard(srv: &mut ServerState, client: &mut Client) {
    client.multi = None;
    client.dirty_cas = false;
    unwatch_all(srv, client);
}

/// Drops every key the client watches.
pub fn unwatch_all(srv: &mut ServerState, client: &mut Client) {
    if !client.watched.is_empty() {
        srv.watches.remove(client.id, &client.watched);
        client.watched.clear();
    }
}

impl ServerState {
    /// Marks client `id`'s transaction dirty (EXEC will fail). With
    /// `unwatch`, its watched keys are dropped too, as nothing can undo it.
    pub(crate) fn mark_dirty_cas(&mut self, current: Option<&mut Client>, id: u64, unwatch: bool) {
        match current {
            Some(c) if c.id == id => set_dirty(self, c, unwatch),
            _ => {
                let Some(rc) = self.clients.get(&id).cloned() else {
                    return;
                };
                match rc.try_borrow_mut() {
                    Ok(mut c) => set_dirty(self, &mut c, unwatch),
                    // Its connection is mid-turn (its write served a blocked
                    // client that changed the key): its link carries the
                    // mark to its next command.
                    Err(_) => {
                        if let Some(link) = self.links.get(&id) {
                            link.mark_dirty_cas();
                        }
                    }
                }
            }
        }
    }
}

fn set_dirty(srv: &mut ServerState, c: &mut Client, unwatch: bool) {
    c.dirty_cas = true;
    if unwatch {
        unwatch_all(srv, c);
    }
}

/// Applies a dirty mark that could not be set when the key changed.
pub fn apply_deferred(srv: &mut ServerState, client: &mut Client) {
    if client.link.take_dirty_cas() {
        set_dirty(srv, client, true);
    }
}
