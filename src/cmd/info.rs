//! INFO: the server's report, section by section, with Redis's field names.

use super::{Ctx, table};
use crate::error::CmdResult;
use crate::protocol::Reply;
use bytes::Bytes;
use std::fmt::Write;

const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];
const ALL_EXTRA: &[&str] = &["commandstats"];

/// INFO [section ...]
pub fn info(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut wanted: Vec<String> = Vec::new();
    if args.len() == 1 {
        wanted.extend(DEFAULT.iter().map(|s| s.to_string()));
    }
    for a in &args[1..] {
        let s = String::from_utf8_lossy(a).to_ascii_lowercase();
        match s.as_str() {
            "default" => wanted.extend(DEFAULT.iter().map(|s| s.to_string())),
            "all" | "everything" => {
                wanted.extend(DEFAULT.iter().chain(ALL_EXTRA).map(|s| s.to_string()))
            }
            _ => wanted.push(s),
        }
    }
    let mut out = String::new();
    let order = DEFAULT.iter().chain(ALL_EXTRA);
    for section in order {
        if !wanted.iter().any(|w| w == section) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        render(ctx, section, &mut out);
    }
    Ok(Reply::Verbatim("txt", Bytes::from(out)))
}

fn rusage(who: i32) -> (f64, f64) {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}

/// Human-readable byte count, as Redis's `bytesToHuman`.
pub fn human(n: u64) -> String {
    let n = n as f64;
    if n < 1024.0 {
        format!("{}B", n as u64)
    } else if n < 1024.0 * 1024.0 {
        format!("{:.2}K", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", n / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", n / (1024.0 * 1024.0 * 1024.0))
    }
}

fn render(ctx: &mut Ctx, section: &str, o: &mut String) {
    let srv = &mut *ctx.srv;
    let now = ctx.now;
    macro_rules! w {
        ($($t:tt)*) => { let _ = write!(o, $($t)*); o.push_str("\r\n"); };
    }
    match section {
        "server" => {
            let uptime = srv.started.elapsed().as_secs();
            w!("# Server");
            w!("redis_version:{}", super::connection::REDIS_COMPAT_VERSION);
            w!("forkv_version:{}", env!("CARGO_PKG_VERSION"));
            w!("redis_git_sha1:00000000");
            w!("redis_git_dirty:0");
            w!("redis_build_id:0");
            w!("redis_mode:standalone");
            w!("os:{}", os_name());
            w!("arch_bits:64");
            w!("monotonic_clock:POSIX clock_gettime");
            w!("multiplexing_api:epoll");
            w!("atomicvar_api:c11-builtin");
            w!("gcc_version:0.0.0");
            w!("process_id:{}", std::process::id());
            w!("process_supervised:no");
            w!("run_id:{}", srv.run_id);
            w!("tcp_port:{}", srv.port);
            w!("server_time_usec:{}", now * 1000);
            w!("uptime_in_seconds:{}", uptime);
            w!("uptime_in_days:{}", uptime / 86400);
            w!("hz:{}", srv.config.hz);
            w!("configured_hz:{}", srv.config.hz);
            w!("lru_clock:{}", crate::db::lru_clock() & 0xff_ffff);
            w!(
                "executable:{}",
                std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            w!("config_file:{}", srv.config_file.as_deref().unwrap_or(""));
            w!("io_threads_active:0");
        }
        "clients" => {
            w!("# Clients");
            w!("connected_clients:{}", srv.clients.len());
            w!("cluster_connections:0");
            w!("maxclients:{}", srv.config.maxclients);
            w!("client_recent_max_input_buffer:0");
            w!("client_recent_max_output_buffer:0");
            w!(
                "blocked_clients:{}",
                srv.blocking.blocked_clients() + srv.pause.postponed()
            );
            w!("tracking_clients:{}", srv.tracking.clients);
            w!("clients_in_timeout_table:0");
        }
        "memory" => {
            let used = crate::alloc::used_memory() as u64;
            srv.peak_memory = srv.peak_memory.max(used as usize);
            let rss = crate::alloc::rss_bytes();
            let peak = srv.peak_memory as u64;
            let total = crate::alloc::total_system_memory();
            w!("# Memory");
            w!("used_memory:{}", used);
            w!("used_memory_human:{}", human(used));
            w!("used_memory_rss:{}", rss);
            w!("used_memory_rss_human:{}", human(rss));
            w!("used_memory_peak:{}", peak);
            w!("used_memory_peak_human:{}", human(peak));
            w!(
                "used_memory_peak_perc:{:.2}%",
                if peak > 0 {
                    used as f64 * 100.0 / peak as f64
                } else {
                    100.0
                }
            );
            w!("used_memory_dataset:{}", used);
            w!("allocator_allocated:{}", used);
            w!("total_system_memory:{}", total);
            w!("total_system_memory_human:{}", human(total));
            let lua = srv.scripts.lua_memory() as u64;
            let fns = &srv.scripts.functions;
            let vm_functions = fns.lua_memory() as u64;
            let functions_mem = fns.code_memory() as u64;
            let eval_scripts = srv.scripts.cache_memory() as u64;
            let scripts = eval_scripts + functions_mem;
            w!("used_memory_lua:{}", lua);
            w!("used_memory_vm_eval:{}", lua);
            w!("used_memory_lua_human:{}", human(lua));
            w!("used_memory_scripts_eval:{}", eval_scripts);
            w!("number_of_cached_scripts:{}", srv.scripts.count());
            w!("number_of_functions:{}", fns.function_count());
            w!("number_of_libraries:{}", fns.libs.len());
            w!("used_memory_vm_functions:{}", vm_functions);
            w!("used_memory_vm_total:{}", lua + vm_functions);
            w!("used_memory_vm_total_human:{}", human(lua + vm_functions));
            w!("used_memory_functions:{}", functions_mem);
            w!("used_memory_scripts:{}", scripts);
            w!("used_memory_scripts_human:{}", human(scripts));
            w!("maxmemory:{}", srv.config.maxmemory);
            w!("maxmemory_human:{}", human(srv.config.maxmemory));
            w!("maxmemory_policy:{}", srv.config.maxmemory_policy);
            w!(
                "mem_fragmentation_ratio:{:.2}",
                if used > 0 {
                    rss as f64 / used as f64
                } else {
                    0.0
                }
            );
            w!("mem_fragmentation_bytes:{}", rss as i64 - used as i64);
            w!("mem_not_counted_for_evict:0");
            w!("mem_allocator:mimalloc");
            w!("lazyfree_pending_objects:{}", srv.ks.lazyfree_pending());
        }
        "persistence" => {
            w!("# Persistence");
            w!("loading:{}", srv.loading as u8);
            w!("async_loading:0");
            let mut fields = Vec::new();
            crate::server::persistence::info_persistence(srv, &mut fields);
            for (k, v) in fields {
                w!("{k}:{v}");
            }
            w!("aof_enabled:0");
            w!("aof_rewrite_in_progress:0");
            w!("aof_rewrite_scheduled:0");
            w!("aof_last_rewrite_time_sec:-1");
            w!("aof_current_rewrite_time_sec:-1");
            w!("aof_last_bgrewrite_status:ok");
            w!("aof_last_write_status:ok");
            let mut loading = Vec::new();
            crate::server::persistence::info_loading(srv, &mut loading);
            for (k, v) in loading {
                w!("{k}:{v}");
            }
        }
        "stats" => {
            let s = &srv.stats;
            let k = &srv.ks.stats;
            w!("# Stats");
            w!(
                "total_connections_received:{}",
                s.total_connections_received
            );
            w!("total_commands_processed:{}", s.total_commands_processed);
            w!("instantaneous_ops_per_sec:{}", srv.instantaneous_ops());
            w!("total_net_input_bytes:{}", s.total_net_input_bytes);
            w!("total_net_output_bytes:{}", s.total_net_output_bytes);
            w!("rejected_connections:{}", s.rejected_connections);
            w!("expired_keys:{}", k.expired_keys);
            w!(
                "expired_time_cap_reached_count:{}",
                k.expired_time_cap_reached_count
            );
            let (exceeded_total, exceeded_now) = srv.ks.eviction_exceeded_ms();
            w!("evicted_keys:{}", k.evicted_keys);
            w!("evicted_clients:0");
            w!("total_eviction_exceeded_time:{}", exceeded_total);
            w!("current_eviction_exceeded_time:{}", exceeded_now);
            w!("keyspace_hits:{}", k.keyspace_hits);
            w!("keyspace_misses:{}", k.keyspace_misses);
            w!("pubsub_channels:{}", srv.pubsub.channels.len());
            w!("pubsub_patterns:{}", srv.pubsub.patterns.len());
            w!("pubsubshard_channels:{}", srv.pubsub.shard.len());
            w!("latest_fork_usec:{}", srv.persist.latest_fork_usec);
            w!("total_forks:{}", srv.persist.total_forks);
            w!("tracking_total_keys:{}", srv.tracking.total_keys());
            w!("tracking_total_items:{}", srv.tracking.total_items());
            w!("tracking_total_prefixes:{}", srv.tracking.total_prefixes());
            w!(
                "client_query_buffer_limit_disconnections:{}",
                s.client_qbuf_limit_disconnections
            );
            w!(
                "client_output_buffer_limit_disconnections:{}",
                s.client_output_buffer_limit_disconnections
            );
            w!("total_error_replies:{}", s.total_error_replies);
            w!("total_reads_processed:{}", s.total_reads_processed);
            w!("total_writes_processed:{}", s.total_writes_processed);
        }
        "replication" => {
            w!("# Replication");
            w!("role:master");
            w!("connected_slaves:0");
            w!("master_failover_state:no-failover");
            w!("master_replid:{}", srv.run_id);
            w!("master_replid2:0000000000000000000000000000000000000000");
            w!("master_repl_offset:0");
            w!("second_repl_offset:-1");
            w!("repl_backlog_active:0");
            w!("repl_backlog_size:1048576");
            w!("repl_backlog_first_byte_offset:0");
            w!("repl_backlog_histlen:0");
        }
        "cpu" => {
            let (sys, user) = rusage(libc::RUSAGE_SELF);
            let (csys, cuser) = rusage(libc::RUSAGE_CHILDREN);
            w!("# CPU");
            w!("used_cpu_sys:{:.6}", sys);
            w!("used_cpu_user:{:.6}", user);
            w!("used_cpu_sys_children:{:.6}", csys);
            w!("used_cpu_user_children:{:.6}", cuser);
        }
        "modules" => {
            w!("# Modules");
        }
        "errorstats" => {
            w!("# Errorstats");
            for (code, n) in &srv.stats.errors {
                w!("errorstat_{}:count={}", code, n);
            }
        }
        "cluster" => {
            w!("# Cluster");
            w!("cluster_enabled:0");
        }
        "commandstats" => {
            w!("# Commandstats");
            for c in &table().cmds {
                let s = srv.cmd_stats[c.index];
                if s.calls == 0 && s.rejected_calls == 0 && s.failed_calls == 0 {
                    continue;
                }
                w!(
                    "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}",
                    c.name,
                    s.calls,
                    s.usec,
                    if s.calls > 0 {
                        s.usec as f64 / s.calls as f64
                    } else {
                        0.0
                    },
                    s.rejected_calls,
                    s.failed_calls
                );
            }
        }
        "keyspace" => {
            w!("# Keyspace");
            for (i, d) in srv.ks.dbs.iter().enumerate() {
                if d.is_empty() {
                    continue;
                }
                w!(
                    "db{}:keys={},expires={},avg_ttl={}",
                    i,
                    d.len(),
                    d.expires_len(),
                    d.avg_ttl
                );
            }
        }
        _ => {}
    }
}

fn os_name() -> String {
    // SAFETY: uname only fills the struct we pass.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return "Linux".into();
    }
    let f = |s: &[libc::c_char]| {
        let b: Vec<u8> = s
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&b).into_owned()
    };
    format!("{} {} {}", f(&u.sysname), f(&u.release), f(&u.machine))
}
