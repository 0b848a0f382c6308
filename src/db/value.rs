//! Values stored under keys, and what `TYPE` / `OBJECT ENCODING` say of them.

use super::hash::Hash;
use super::list::List;
use super::set::Set;
use super::small::SmallBytes;
use super::stream::Stream;
use super::zset::ZSet;

/// A stored value. Each data type is one variant.
#[derive(Clone, Debug)]
pub enum Value {
    /// A binary-safe string.
    Str(SmallBytes),
    /// A list.
    List(Box<List>),
    /// A hash.
    Hash(Box<Hash>),
    /// A set.
    Set(Box<Set>),
    /// A sorted set.
    ZSet(Box<ZSet>),
    /// A stream.
    Stream(Box<Stream>),
}

/// Which string encoding Redis would have chosen for a value, given how it
/// was written; OBJECT ENCODING reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StrEnc {
    /// Written whole (SET, INCR ...): `int` when it is a number.
    #[default]
    Auto,
    /// Modified in place (APPEND, SETRANGE): always `raw`.
    Raw,
    /// Built from a float (INCRBYFLOAT): never `int`.
    NoInt,
}

/// Strings Redis keeps as `embstr` (one allocation with the object header).
const EMBSTR_MAX: usize = 44;

impl Value {
    /// The name `TYPE` reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The name `OBJECT ENCODING` reports.
    pub fn encoding(&self, enc: StrEnc) -> &'static str {
        match self {
            Value::Str(s) => {
                let b = s.as_slice();
                if enc == StrEnc::Auto && b.len() <= 20 && crate::util::num::parse_i64(b).is_some()
                {
                    "int"
                } else if enc == StrEnc::Raw || b.len() > EMBSTR_MAX {
                    "raw"
                } else {
                    "embstr"
                }
            }
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(s) => s.encoding(),
        }
    }

    /// Approximate heap bytes owned beyond the entry (for memory accounting).
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_size(),
            Value::List(l) => std::mem::size_of::<List>() + l.heap_size(),
            Value::Hash(h) => std::mem::size_of::<Hash>() + h.heap_size(),
            Value::Set(s) => std::mem::size_of::<Set>() + s.heap_size(),
            Value::ZSet(z) => std::mem::size_of::<ZSet>() + z.heap_size(),
            Value::Stream(s) => std::mem::size_of::<Stream>() + s.heap_size(),
        }
    }
}
