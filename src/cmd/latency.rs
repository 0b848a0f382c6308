//! LATENCY (LATEST, HISTORY, RESET, GRAPH, DOCTOR, HELP): reports what the
//! latency monitor (`server::latency`) recorded.

use super::Ctx;
use super::keys::help_reply;
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use crate::server::latency::{Sample, Series};
use crate::server::state::ServerState;
use bytes::Bytes;
use std::fmt::Write;

/// Width of LATENCY GRAPH.
const GRAPH_COLS: usize = 80;

/// LATENCY LATEST
pub fn latest(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Ok(Reply::Array(
        ctx.srv
            .latency
            .events
            .iter()
            .map(|(name, s)| {
                let last = s.last();
                Reply::Array(vec![
                    Reply::bulk(name.as_bytes()),
                    Reply::Int(last.time),
                    Reply::Int(last.latency as i64),
                    Reply::Int(s.max as i64),
                ])
            })
            .collect(),
    ))
}

/// LATENCY HISTORY event
pub fn history(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let samples = match ctx.srv.latency.get(&args[2]) {
        Some(s) => s
            .in_order()
            .map(|x| Reply::Array(vec![Reply::Int(x.time), Reply::Int(x.latency as i64)]))
            .collect(),
        None => Vec::new(),
    };
    Ok(Reply::Array(samples))
}

/// LATENCY RESET [event ...]
pub fn reset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let events = &mut ctx.srv.latency.events;
    let before = events.len();
    if args.len() == 2 {
        events.clear();
        return Ok(Reply::Int(before as i64));
    }
    let mut resets = 0;
    for name in &args[2..] {
        let n = events.len();
        events.retain(|(e, _)| !e.as_bytes().eq_ignore_ascii_case(name));
        resets += n - events.len();
    }
    Ok(Reply::Int(resets as i64))
}

/// LATENCY GRAPH event
pub fn graph(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (name, series) = ctx
        .srv
        .latency
        .events
        .iter()
        .find(|(n, _)| n.as_bytes() == &args[2][..])
        .ok_or_else(|| {
            CmdError::msg(format!(
                "ERR No samples available for event '{}'",
                String::from_utf8_lossy(&args[2])
            ))
        })?;
    let now = crate::db::now_ms() / 1000;
    let samples: Vec<Sample> = series.in_order().collect();
    let (low, high) = samples.iter().fold((u64::MAX, 0), |(lo, hi), s| {
        (lo.min(s.latency), hi.max(s.latency))
    });
    let low = if samples.is_empty() { 0 } else { low };
    let mut out = format!(
        "{name} - high {high} ms, low {low} ms (all time high {} ms)\n",
        series.max
    );
    out.push_str(&"-".repeat(GRAPH_COLS));
    out.push('\n');
    let points: Vec<(f64, String)> = samples
        .iter()
        .map(|s| (s.latency as f64, ago_label(now - s.time)))
        .collect();
    for (i, chunk) in points.chunks(GRAPH_COLS).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        sparkline(&mut out, chunk, &points, 4);
    }
    Ok(Reply::Verbatim("txt", Bytes::from(out)))
}

/// How long ago, as LATENCY GRAPH labels its columns.
fn ago_label(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Renders `chunk` as a filled sparkline of `rows` rows scaled to the
/// range of all of `points`, with each column's label written downwards
/// under it (Redis's `sparklineRenderRange`).
fn sparkline(out: &mut String, chunk: &[(f64, String)], points: &[(f64, String)], rows: usize) {
    const FILL: &[u8] = b"_o#";
    let min = points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let max = points.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let relmax = if max - min == 0.0 { 1.0 } else { max - min };
    let steps = (FILL.len() * rows) as i64;
    let step_of = |v: f64| {
        let step = ((((v - min) * steps as f64) as i64) as f64 / relmax) as i64;
        step.clamp(0, steps - 1)
    };
    let has_labels = chunk.iter().any(|p| !p.1.is_empty());
    let mut row = 0;
    loop {
        let mut line = vec![b' '; chunk.len()];
        let mut more = false;
        if row < rows {
            more = true;
            for (c, p) in line.iter_mut().zip(chunk) {
                let idx = step_of(p.0) - ((rows - row - 1) * FILL.len()) as i64;
                if (0..FILL.len() as i64).contains(&idx) {
                    *c = FILL[idx as usize];
                } else if idx >= FILL.len() as i64 {
                    *c = b'|';
                }
            }
        } else if has_labels && row == rows {
            // One blank line between the graph and the labels.
            more = true;
        } else {
            let at = row - rows - 1;
            for (c, p) in line.iter_mut().zip(chunk) {
                if let Some(&ch) = p.1.as_bytes().get(at) {
                    *c = ch;
                    more = true;
                }
            }
        }
        if !more {
            break;
        }
        out.push_str(&String::from_utf8_lossy(&line));
        out.push('\n');
        row += 1;
    }
}

/// LATENCY DOCTOR: a report on the recorded events in Redis's words (the
/// parts that apply to forkv).
pub fn doctor(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let srv = &*ctx.srv;
    let threshold = srv.config.latency_monitor_threshold;
    if srv.latency.events.is_empty() && threshold == 0 {
        return Ok(Reply::Verbatim(
            "txt",
            Bytes::from_static(
                b"I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n",
            ),
        ));
    }
    let now = crate::db::now_ms() / 1000;
    let mut report = String::new();
    let mut advice = Advice::default();
    for (i, (name, series)) in srv.latency.events.iter().enumerate() {
        if i == 0 {
            report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let st = analyze(series, now);
        let _ = write!(
            report,
            "{}. {}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.",
            i + 1,
            name,
            st.samples,
            st.avg,
            st.mad,
            st.period as f64 / st.samples.max(1) as f64,
            series.max
        );
        match name.as_str() {
            "fork" => {
                let rate = fork_rate_gb(srv);
                let quality = match rate {
                    r if r < 10.0 => "terrible",
                    r if r < 25.0 => "poor",
                    r if r < 100.0 => "good",
                    _ => "excellent",
                };
                advice.better_vm |= rate < 25.0;
                let _ = write!(report, " Fork rate is {rate:.2} GB/sec ({quality}).");
            }
            "command" => {
                let slower = srv.config.slowlog_log_slower_than;
                advice.slowlog_enabled |= slower < 0;
                advice.slowlog_tuning |= slower >= 0 && (slower / 1000) as u64 > threshold;
                advice.slowlog_inspect = true;
                advice.large_objects = true;
            }
            "fast-command" => advice.scheduler = true,
            "expire-cycle" => {
                advice.hz = true;
                advice.large_objects = true;
            }
            _ => {}
        }
        report.push('\n');
    }
    advice.write(&mut report, srv, !srv.latency.events.is_empty());
    Ok(Reply::Verbatim("txt", Bytes::from(report)))
}

/// Fork speed in GB of dataset per second, as Redis's `stat_fork_rate`.
fn fork_rate_gb(srv: &ServerState) -> f64 {
    let us = srv.persist.latest_fork_usec.max(1) as f64;
    crate::alloc::used_memory() as f64 * 1_000_000.0 / us / (1024.0 * 1024.0 * 1024.0)
}

struct Stats {
    samples: u64,
    avg: u64,
    mad: u64,
    period: i64,
}

/// Mean, mean absolute deviation and time span of an event's samples.
fn analyze(s: &Series, now: i64) -> Stats {
    let samples: Vec<Sample> = s.in_order().collect();
    let n = samples.len() as u64;
    if n == 0 {
        return Stats {
            samples: 0,
            avg: 0,
            mad: 0,
            period: 0,
        };
    }
    let avg = samples.iter().map(|x| x.latency).sum::<u64>() / n;
    let oldest = samples.iter().map(|x| x.time).min().unwrap_or(now);
    let period = (now - oldest).max(1);
    let mad = samples
        .iter()
        .map(|x| (avg as i64 - x.latency as i64).unsigned_abs())
        .sum::<u64>()
        / n;
    Stats {
        samples: n,
        avg,
        mad,
        period,
    }
}

/// The suggestions LATENCY DOCTOR collects while reading the events.
#[derive(Default)]
struct Advice {
    better_vm: bool,
    slowlog_enabled: bool,
    slowlog_tuning: bool,
    slowlog_inspect: bool,
    scheduler: bool,
    hz: bool,
    large_objects: bool,
}

impl Advice {
    fn any(&self) -> bool {
        self.better_vm
            || self.slowlog_enabled
            || self.slowlog_tuning
            || self.slowlog_inspect
            || self.scheduler
            || self.hz
            || self.large_objects
    }

    fn write(&self, r: &mut String, srv: &ServerState, events: bool) {
        let threshold_us = srv.config.latency_monitor_threshold * 1000;
        if !events && !self.any() {
            r.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
            return;
        }
        if !self.any() {
            r.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
            return;
        }
        r.push_str("\nI have a few advices for you:\n\n");
        if self.better_vm {
            r.push_str("- If you are using a virtual machine, consider upgrading it with a faster one using a hypervisior that provides less latency during fork() calls. Xen is known to have poor fork() performance. Even in the context of the same VM provider, certain kinds of instances can execute fork faster than others.\n");
        }
        if self.slowlog_enabled {
            let _ = writeln!(
                r,
                "- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {threshold_us}'. If the Slow log is disabled Redis is not able to log slow commands execution for you."
            );
        }
        if self.slowlog_tuning {
            let _ = writeln!(
                r,
                "- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {threshold_us}'."
            );
        }
        if self.slowlog_inspect {
            r.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        }
        if self.scheduler {
            r.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
        }
        if self.hz && srv.config.hz < 100 {
            r.push_str("- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n");
        }
        if self.large_objects {
            r.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
        }
    }
}

/// LATENCY HELP
pub fn help(_: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Ok(help_reply(
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::latency::HISTORY;

    #[test]
    fn one_sample_per_second_keeping_the_highest() {
        let mut s = Series::new();
        s.add(100, 5);
        s.add(100, 9);
        s.add(100, 3);
        s.add(101, 2);
        let v: Vec<(i64, u64)> = s.in_order().map(|x| (x.time, x.latency)).collect();
        assert_eq!(v, vec![(100, 9), (101, 2)]);
        assert_eq!(s.max, 9);
        for t in 0..200 {
            s.add(1000 + t, 1);
        }
        assert_eq!(s.in_order().count(), HISTORY);
        assert_eq!(s.in_order().next().map(|x| x.time), Some(1040));
        assert_eq!(s.last().time, 1199);
    }

    #[test]
    fn sparkline_matches_redis() {
        // Redis 7.0 draws samples of 50 and 30 ms, 2 s and 1 s ago, so:
        let pts = vec![(50.0, "2s".to_string()), (30.0, "1s".to_string())];
        let mut out = String::new();
        sparkline(&mut out, &pts, &pts, 4);
        assert_eq!(out, "# \n| \n| \n|_\n  \n21\nss\n");
        let pts = vec![
            (50.0, "3s".to_string()),
            (30.0, "2s".to_string()),
            (1.0, "0s".to_string()),
        ];
        let mut out = String::new();
        sparkline(&mut out, &pts, &pts, 4);
        assert_eq!(out, "#  \n|o \n|| \n||_\n   \n320\nsss\n");
    }

    #[test]
    fn statistics_like_redis() {
        let mut s = Series::new();
        s.add(100, 50);
        s.add(101, 30);
        let st = analyze(&s, 103);
        assert_eq!((st.samples, st.avg, st.mad, st.period), (2, 40, 10, 3));
    }
}
