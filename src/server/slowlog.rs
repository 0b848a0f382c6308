//! The slow log: commands that ran for at least `slowlog-log-slower-than`
//! microseconds (negative = off), newest first, at most `slowlog-max-len`
//! entries. The SLOWLOG command (`cmd::slowlog`) reads and resets it.

use super::client::Client;
use bytes::Bytes;
use std::collections::VecDeque;

/// Arguments kept per entry; the last one says how many more there were.
const MAX_ARGC: usize = 32;
/// Bytes kept per argument; longer ones say how many more there were.
const MAX_STRING: usize = 128;

/// One logged command.
pub struct Entry {
    /// Unique, increasing id.
    pub id: u64,
    /// When it ran, Unix seconds.
    pub unix_secs: i64,
    /// How long it ran.
    pub micros: u64,
    /// Its arguments, redacted and truncated as Redis shows them.
    pub args: Vec<Bytes>,
    /// The client's address.
    pub peer: String,
    /// The client's name.
    pub name: Bytes,
}

/// The slow log.
#[derive(Default)]
pub struct SlowLog {
    entries: VecDeque<Entry>,
    next_id: u64,
}

impl SlowLog {
    /// Logs a command that took `micros` if the configuration asks for it.
    /// `args` are the arguments as shown (already redacted).
    pub fn record(
        &mut self,
        threshold: i64,
        max_len: u64,
        client: &Client,
        args: &[Bytes],
        micros: u64,
    ) {
        if threshold < 0 {
            return;
        }
        if micros as i64 >= threshold {
            let entry = Entry {
                id: self.next_id,
                unix_secs: crate::db::now_ms() / 1000,
                micros,
                args: shown_args(args),
                peer: client.addr.clone(),
                name: client.name.clone().unwrap_or_default(),
            };
            self.next_id += 1;
            self.entries.push_front(entry);
        }
        self.entries.truncate(max_len as usize);
    }

    /// Entries, newest first.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// SLOWLOG RESET.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Entries kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is logged.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Redis's truncation of a logged command: at most 32 arguments (the last
/// one then reads `... (N more arguments)`) and 128 bytes per argument
/// (followed by `... (N more bytes)`).
fn shown_args(args: &[Bytes]) -> Vec<Bytes> {
    let kept = args.len().min(MAX_ARGC);
    let mut out = Vec::with_capacity(kept);
    for (j, a) in args[..kept].iter().enumerate() {
        if kept != args.len() && j == kept - 1 {
            let more = args.len() - kept + 1;
            out.push(Bytes::from(format!("... ({more} more arguments)")));
        } else if a.len() > MAX_STRING {
            let mut s = a[..MAX_STRING].to_vec();
            s.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes());
            out.push(Bytes::from(s));
        } else {
            // A copy: a slice would pin the whole read buffer it came from
            // (a pipelined batch can be megabytes) for as long as the entry
            // lives.
            out.push(Bytes::copy_from_slice(a));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn truncates_like_redis() {
        let args: Vec<Bytes> = (0..40).map(|i| b(&i.to_string())).collect();
        let shown = shown_args(&args);
        assert_eq!(shown.len(), 32);
        assert_eq!(shown[30], b("30"));
        assert_eq!(shown[31], b("... (9 more arguments)"));
        let long = Bytes::from(vec![b'x'; 130]);
        let shown = shown_args(&[b("set"), long]);
        assert_eq!(shown[1].len(), 128 + "... (2 more bytes)".len());
        assert!(shown[1].ends_with(b"xx... (2 more bytes)"));
        let exact = shown_args(&[b("set"), Bytes::from(vec![b'y'; 128])]);
        assert_eq!(exact[1].len(), 128);
    }

    #[test]
    fn keeps_newest_first_up_to_max_len() {
        let c = Client::new(1, "1.2.3.4:5".into(), String::new(), 0, true, 0);
        let mut log = SlowLog::default();
        for i in 0..5 {
            log.record(0, 3, &c, &[b(&format!("c{i}"))], 10);
        }
        log.record(100, 3, &c, &[b("fast")], 10);
        log.record(-1, 3, &c, &[b("off")], 1000);
        assert_eq!(log.len(), 3);
        let ids: Vec<u64> = log.entries.iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![4, 3, 2]);
        assert_eq!(log.entries[0].args[0], b("c4"));
        assert_eq!(log.entries[0].peer, "1.2.3.4:5");
    }
}
