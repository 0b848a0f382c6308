//! One way for the collection families (list, hash, set, sorted set) to
//! reach their values: the typed lookup for reads and writes (WRONGTYPE for
//! a key of another type, hash tables kept from growing while a snapshot
//! child shares memory), and the end of a write (a collection left empty
//! is deleted, as Redis never stores one; `dirty` counts the elements the
//! command changed, not the key's deletion or creation).

use super::Ctx;
use crate::db::hash::Hash;
use crate::db::list::List;
use crate::db::set::Set;
use crate::db::stream::Stream;
use crate::db::zset::ZSet;
use crate::db::{Lookup, Value};
use crate::error::CmdError;

/// A collection type stored in a [`Value`].
pub trait Collection {
    /// The collection in `v`, or None when `v` holds another type.
    fn of(v: &Value) -> Option<&Self>;
    /// [`Collection::of`], mutable.
    fn of_mut(v: &mut Value) -> Option<&mut Self>;
    /// Lets the collection's own hash table grow (or not, while a fork
    /// child shares memory).
    fn allow_resize(&mut self, _allowed: bool) {}
}

/// Implements [`Collection`] for the type held by one `Value` variant;
/// `resize` forwards the resize guard to types with their own hash table.
macro_rules! collection {
    ($t:ty, $variant:ident $(, $resize:ident)?) => {
        impl Collection for $t {
            fn of(v: &Value) -> Option<&Self> {
                match v {
                    Value::$variant(c) => Some(c),
                    _ => None,
                }
            }
            fn of_mut(v: &mut Value) -> Option<&mut Self> {
                match v {
                    Value::$variant(c) => Some(c),
                    _ => None,
                }
            }
            $(fn allow_resize(&mut self, allowed: bool) {
                self.$resize(allowed);
            })?
        }
    };
}

collection!(List, List);
collection!(Hash, Hash, set_resize_allowed);
collection!(Set, Set, set_resize_allowed);
collection!(ZSet, ZSet);
collection!(Stream, Stream);

/// Lookup options of the calling client (CLIENT NO-TOUCH).
pub fn lookup_opt(ctx: &Ctx) -> Lookup {
    Lookup {
        no_touch: ctx.client.no_touch,
    }
}

/// The `T` at `key` for a read command (counts a hit or a miss): None if
/// missing, WRONGTYPE if another type.
pub fn read<'a, T: Collection>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a T>, CmdError> {
    let opt = lookup_opt(ctx);
    match ctx.srv.ks.lookup_read(ctx.client.db, key, ctx.now, opt) {
        None => Ok(None),
        Some(e) => T::of(&e.value).map(Some).ok_or_else(CmdError::wrong_type),
    }
}

/// The `T` at `key` for a write command: None if missing, WRONGTYPE if
/// another type.
pub fn write<'a, T: Collection>(
    ctx: &'a mut Ctx,
    key: &[u8],
) -> Result<Option<&'a mut T>, CmdError> {
    let allowed = ctx.srv.persist.child.is_none();
    match ctx.srv.ks.lookup_write(ctx.client.db, key, ctx.now) {
        None => Ok(None),
        Some(e) => match T::of_mut(&mut e.value) {
            Some(c) => {
                c.allow_resize(allowed);
                Ok(Some(c))
            }
            None => Err(CmdError::wrong_type()),
        },
    }
}

/// Stores a new key holding `value`; the command counts its elements in
/// `dirty` itself (Redis's `dbAdd` does not count).
pub fn create(ctx: &mut Ctx, key: &[u8], value: Value) {
    let dirty = ctx.srv.ks.stats.dirty;
    ctx.srv.ks.set(ctx.client.db, key, value, false, ctx.now);
    ctx.srv.ks.stats.dirty = dirty;
}

/// Deletes `key` when the command left its collection `empty`; the
/// command counts what it removed in `dirty` (Redis's `dbDelete` does not
/// count). True if it deleted the key.
pub fn drop_if_empty(ctx: &mut Ctx, key: &[u8], empty: bool) -> bool {
    if !empty {
        return false;
    }
    let dirty = ctx.srv.ks.stats.dirty;
    let removed = ctx.srv.ks.remove(ctx.client.db, key).is_some();
    ctx.srv.ks.stats.dirty = dirty;
    removed
}
