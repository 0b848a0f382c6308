//! Persistence formats and mechanics, over the keyspace alone: the
//! snapshot format (pure encode/decode), the writer, the loader, and the
//! fork child that writes a snapshot. When to save, the save's state and
//! what INFO persistence shows belong to the server
//! (`server::persistence`).
//!
//! Failure never loses data: a save writes a temp file and renames it over
//! the previous snapshot only once it is complete and synced.

pub mod fork;
pub mod format;
pub mod load;
pub mod save;
