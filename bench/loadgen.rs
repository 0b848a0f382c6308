//! Load generator for the side-by-side benchmarks (run by bench/run.py,
//! or by hand: `cargo bench --bench loadgen -- MODE --port P ...`).
//!
//! Modes:
//! - `latency --rate R --seconds S --conns C --keys K [--writes-only]`:
//!   open-loop GET/SET at a fixed total rate; latency is measured from each
//!   request's scheduled send time, so a stalled server cannot hide behind
//!   fewer requests. Prints `p50_us p99_us p999_us max_us count`.
//! - `fill --keys N --probe-ms M`: inserts `key:0..N` with pipelined SETs
//!   (16-byte values) while a second connection sends PING every M ms and
//!   records the longest PING round trip. Prints
//!   `max_stall_us fill_secs p999_stall_us`. The probe thread asks for a
//!   real-time priority so its own scheduling does not show up as a stall.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

fn encode(out: &mut Vec<u8>, parts: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", parts.len()).as_bytes());
    for p in parts {
        out.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
}

/// Reads one reply (status, error, integer, bulk or nil) and returns it.
fn read_reply(r: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.first() == Some(&b'$') {
        let n: i64 = std::str::from_utf8(&line[1..line.len() - 2])
            .unwrap_or("-1")
            .parse()
            .unwrap_or(-1);
        if n >= 0 {
            let mut body = vec![0u8; n as usize + 2];
            r.read_exact(&mut body)?;
        }
    }
    Ok(line)
}

fn connect(port: u16) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_nodelay(true).ok();
    let r = BufReader::with_capacity(1 << 16, s.try_clone().expect("clone"));
    (s, r)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn latency(args: &[String], port: u16) {
    let rate: f64 = arg(args, "--rate", "20000").parse().unwrap();
    let secs: f64 = arg(args, "--seconds", "10").parse().unwrap();
    let conns: usize = arg(args, "--conns", "10").parse().unwrap();
    let keys: u64 = arg(args, "--keys", "100000").parse().unwrap();
    let writes_only = args.iter().any(|a| a == "--writes-only");
    let per_conn = rate / conns as f64;
    let interval = Duration::from_secs_f64(1.0 / per_conn);
    let handles: Vec<_> = (0..conns)
        .map(|c| {
            std::thread::spawn(move || {
                let (mut s, mut r) = connect(port);
                let start = Instant::now();
                let end = start + Duration::from_secs_f64(secs);
                let mut next = start + interval.mul_f64(c as f64 / conns as f64);
                let mut lat = Vec::with_capacity((per_conn * secs) as usize + 16);
                let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1);
                let mut buf = Vec::with_capacity(128);
                while next < end {
                    let now = Instant::now();
                    if now < next {
                        std::thread::sleep(next - now);
                    }
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = format!("key:{}", x % keys);
                    buf.clear();
                    if writes_only || x.is_multiple_of(2) {
                        encode(&mut buf, &[b"SET", key.as_bytes(), b"0123456789abcdef"]);
                    } else {
                        encode(&mut buf, &[b"GET", key.as_bytes()]);
                    }
                    s.write_all(&buf).expect("write");
                    read_reply(&mut r).expect("read");
                    // From the scheduled time: queueing behind a stall counts.
                    lat.push(next.elapsed().as_micros() as u64);
                    next += interval;
                }
                lat
            })
        })
        .collect();
    let mut all: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_unstable();
    println!(
        "{} {} {} {} {}",
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        percentile(&all, 0.999),
        all.last().copied().unwrap_or(0),
        all.len()
    );
}

fn fill(args: &[String], port: u16) {
    let n: u64 = arg(args, "--keys", "1000000").parse().unwrap();
    let probe_ms: u64 = arg(args, "--probe-ms", "1").parse().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let probe = {
        let done = done.clone();
        std::thread::spawn(move || {
            realtime_priority();
            let (mut s, mut r) = connect(port);
            let mut rtts = Vec::new();
            let ping = b"*1\r\n$4\r\nPING\r\n";
            while !done.load(Ordering::Relaxed) {
                let t = Instant::now();
                s.write_all(ping).unwrap();
                read_reply(&mut r).unwrap();
                rtts.push(t.elapsed().as_micros() as u64);
                std::thread::sleep(Duration::from_millis(probe_ms));
            }
            rtts.sort_unstable();
            rtts
        })
    };
    let (mut s, mut r) = connect(port);
    let start = Instant::now();
    let batch = 256u64;
    let mut buf = Vec::with_capacity(1 << 16);
    let mut i = 0;
    while i < n {
        buf.clear();
        let end = (i + batch).min(n);
        for k in i..end {
            encode(
                &mut buf,
                &[b"SET", format!("key:{k}").as_bytes(), b"0123456789abcdef"],
            );
        }
        s.write_all(&buf).unwrap();
        for _ in i..end {
            read_reply(&mut r).unwrap();
        }
        i = end;
    }
    let secs = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let rtts = probe.join().unwrap();
    println!(
        "{} {secs:.3} {}",
        rtts.last().copied().unwrap_or(0),
        percentile(&rtts, 0.999)
    );
}

/// Gives the calling thread a real-time priority when allowed, so the probe
/// is not itself delayed behind the filling thread on a small machine: the
/// round trips it records then show the server's stalls, not the probe's
/// wait for a CPU.
fn realtime_priority() {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: plain syscall on the calling thread with a valid parameter.
    let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if r != 0 {
        eprintln!("loadgen: probe runs at normal priority (SCHED_FIFO refused)");
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let port: u16 = arg(&args, "--port", "6379").parse().unwrap();
    match args.first().map(String::as_str) {
        Some("latency") => latency(&args, port),
        Some("fill") => fill(&args, port),
        _ => eprintln!("usage: loadgen latency|fill --port P [options] (see the module docs)"),
    }
}
