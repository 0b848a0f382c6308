//! Persistence: the snapshot format, saving (in the foreground or from a
//! forked child), and loading at startup.

pub mod format;
