//! `forkv-server [config-file] [--option value ...]`: starts the server,
//! with the same command line as `redis-server`.

#[global_allocator]
static ALLOC: forkv::alloc::Counting = forkv::alloc::Counting;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!(
            "Usage: forkv-server [/path/to/forkv.conf] [options]\n\
             Examples:\n  forkv-server (run the server with default config)\n  \
             forkv-server /etc/forkv/6379.conf\n  forkv-server --port 7777\n  \
             forkv-server /etc/myforkv.conf --loglevel verbose"
        );
        return;
    }
    if args.iter().any(|a| a == "-v" || a == "--version") {
        println!(
            "forkv-server v={} (Redis {} compatible)",
            env!("CARGO_PKG_VERSION"),
            forkv::cmd::connection::REDIS_COMPAT_VERSION
        );
        return;
    }
    let config = match forkv::config::Config::from_args(&args) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(1);
        }
    };
    if let Err(e) = forkv::log::init(config.loglevel, &config.logfile) {
        eprintln!("{e}");
        std::process::exit(1);
    }
    // As redis-server: a first argument not starting with '-' is the file.
    let config_file = args.first().filter(|a| !a.starts_with('-')).cloned();
    std::process::exit(forkv::server::run(config, config_file));
}
