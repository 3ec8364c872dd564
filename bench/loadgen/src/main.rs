//! `sockio-loadgen`: the load generator of sockio's side-by-side benchmarks.
//!
//! Speaks Engine.IO v4 / Socket.IO v5 itself (raw WebSocket frames, or HTTP/1.1
//! long-polling) against any server implementing the benchmark peer contract
//! (events `echo`, `join`, `bcast`), measures the server's CPU time and memory from
//! `/proc/<pid>`, and prints one result (human text, or JSON with `--json`).
//! `report` turns the JSON lines of many runs into `BENCHMARKS.md` and SVG charts.

mod broadcast;
mod echo;
mod idle;
mod polling;
mod probe;
mod report;
mod soak;
mod stats;
mod ws;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use tokio::sync::Semaphore;

use crate::probe::Probe;
use crate::stats::{progress, progress_done, RunResult, Snapshot};
use crate::ws::{Target, WsConn};

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "sockio-loadgen",
    about = "Socket.IO load generator for side-by-side benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Options shared by every scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Server base URL (loopback only); the Socket.IO path defaults to /socket.io/.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
    /// PID of the server process, for its CPU time and RSS.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Measured window, seconds (at most 600).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up before the window, seconds (at most 120).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds allowed for connecting (and joining).
    #[arg(long, default_value_t = 30.0)]
    connect_timeout: f64,
    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Peer label written into the result.
    #[arg(long, default_value = "peer")]
    peer: String,
    /// Run index written into the result.
    #[arg(long, default_value_t = 1)]
    run: u32,
    /// Scenario name written into the result (default: the subcommand's own).
    #[arg(long)]
    scenario: Option<String>,
}

/// Parsed common options.
#[derive(Debug, Clone)]
pub struct Common {
    target: Target,
    duration: f64,
    warmup: f64,
    connect_timeout: f64,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// C clients × K acked echo requests in flight over WebSocket.
    Echo {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        opts: echo::EchoOpts,
    },
    /// N receivers in room `bench`, one sender; window or fixed rate.
    Broadcast {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        opts: broadcast::BcastOpts,
    },
    /// N idle WebSocket connections answering pings; RSS per connection.
    Idle {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        opts: idle::IdleOpts,
    },
    /// The echo scenario over HTTP long-polling.
    EchoPolling {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        opts: echo::EchoOpts,
    },
    /// Clients in rooms exchanging numbered messages for a long time (WebSocket
    /// and polling, some reconnecting): lost, duplicated, out of order; server RSS.
    Soak {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        opts: soak::SoakOpts,
    },
    /// Writes BENCHMARKS.md and SVG charts from JSON result lines.
    Report(report::ReportArgs),
}

/// Opens `n` Socket.IO sessions over WebSocket, `concurrency` handshakes at a time.
pub async fn connect_all(
    c: &Common,
    n: usize,
    source_addrs: usize,
    buf: usize,
    concurrency: Option<usize>,
) -> Result<Vec<WsConn>, String> {
    let sem = Arc::new(Semaphore::new(concurrency.unwrap_or(64)));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let (sem, t) = (sem.clone(), c.target.clone());
        let src = idle::source_addr(i, source_addrs);
        set.spawn(async move {
            let _p = sem.acquire_owned().await.expect("semaphore open");
            WsConn::open_session(&t, src, buf).await
        });
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(c.connect_timeout);
    let mut out = Vec::with_capacity(n);
    while let Some(r) = tokio::time::timeout_at(deadline, set.join_next())
        .await
        .map_err(|_| {
            format!(
                "connecting {n} clients took longer than {} s",
                c.connect_timeout
            )
        })?
    {
        let ws = r
            .map_err(|e| format!("connect task failed: {e}"))?
            .map_err(|e| format!("cannot open a session at {}: {e}", c.target.addr))?;
        out.push(ws);
        if out.len() % 500 == 0 {
            progress(&format!("connected {}/{n}", out.len()));
        }
    }
    if n >= 500 {
        progress_done();
    }
    Ok(out)
}

/// Warm-up, then the measured window; returns the two snapshots and the count
/// difference. Ends early if `abort()` turns true. Sets the phase to DRAIN at the end.
pub async fn measure(
    c: &Common,
    count: impl Fn() -> u64,
    abort: impl Fn() -> bool,
    what: &str,
) -> (Snapshot, Snapshot, u64) {
    let probe = PROBE.get().and_then(|p| p.as_ref());
    let tick = Duration::from_millis(500);
    let t0 = Instant::now();
    while t0.elapsed().as_secs_f64() < c.warmup && !abort() {
        progress(&format!(
            "warm-up {:.1}/{:.1}s: {} {what}",
            t0.elapsed().as_secs_f64(),
            c.warmup,
            count()
        ));
        tokio::time::sleep(tick.min(Duration::from_secs_f64(c.warmup))).await;
    }
    let a = Snapshot::take(probe);
    let n0 = count();
    stats::set_phase(stats::MEASURE);
    let t1 = Instant::now();
    let mut last = (t1, n0);
    loop {
        let left = c.duration - t1.elapsed().as_secs_f64();
        if left <= 0.0 || abort() {
            break;
        }
        tokio::time::sleep(tick.min(Duration::from_secs_f64(left))).await;
        let (now, n) = (Instant::now(), count());
        let rate = (n - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-9);
        last = (now, n);
        progress(&format!(
            "measuring {:.1}/{:.1}s: {} {what} ({rate:.0}/s)",
            t1.elapsed().as_secs_f64(),
            c.duration,
            n - n0
        ));
    }
    let b = Snapshot::take(probe);
    let n1 = count();
    stats::set_phase(stats::DRAIN);
    progress_done();
    (a, b, n1 - n0)
}

static PROBE: std::sync::OnceLock<Option<Probe>> = std::sync::OnceLock::new();

/// Raises the soft open-files limit to the hard one; returns the limit in force.
pub fn raise_nofile() -> u64 {
    // SAFETY: plain get/setrlimit on a local struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 1024;
        }
        if r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
            }
        }
        r.rlim_cur
    }
}

fn main() {
    let cli = Cli::parse();
    let (common, peer, run, json) = match &cli.cmd {
        Cmd::Report(a) => std::process::exit(match report::run(a) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("report: {e}");
                1
            }
        }),
        Cmd::Echo { common, .. }
        | Cmd::Broadcast { common, .. }
        | Cmd::Idle { common, .. }
        | Cmd::EchoPolling { common, .. }
        | Cmd::Soak { common, .. } => {
            (common.clone(), common.peer.clone(), common.run, common.json)
        }
    };
    raise_nofile();
    let target = match Target::parse(&common.url) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let probe = match common.server_pid {
        Some(pid) => match Probe::new(pid) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("--server-pid {pid}: {e}");
                std::process::exit(2);
            }
        },
        None => None,
    };
    PROBE.set(probe).expect("set once");
    let c = Common {
        target,
        duration: common.duration.clamp(0.1, 600.0),
        warmup: common.warmup.clamp(0.0, 120.0),
        connect_timeout: common.connect_timeout.clamp(1.0, 600.0),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // Hard bound on the whole run, whatever the server does.
    let bound = Duration::from_secs_f64(c.warmup + c.duration + 2.0 * c.connect_timeout + 30.0);
    let res: Result<RunResult, String> = rt.block_on(async {
        let fut = async {
            match &cli.cmd {
                Cmd::Echo { opts, .. } => echo::run(&c, opts).await,
                Cmd::Broadcast { opts, .. } => broadcast::run(&c, opts).await,
                Cmd::Idle { opts, .. } => idle::run(&c, opts, probe.as_ref()).await,
                Cmd::EchoPolling { opts, .. } => polling::run(&c, opts).await,
                Cmd::Soak { opts, .. } => soak::run(&c, opts, probe.as_ref()).await,
                Cmd::Report(_) => unreachable!(),
            }
        };
        tokio::time::timeout(bound, fut)
            .await
            .unwrap_or_else(|_| Err(format!("run exceeded its bound of {} s", bound.as_secs())))
    });
    rt.shutdown_timeout(Duration::from_millis(100));
    match res {
        Ok(mut r) => {
            if let Some(s) = &common.scenario {
                r.scenario = s.clone();
            }
            r.peer = peer;
            r.run = run;
            if json {
                println!("{}", serde_json::to_string(&r).expect("serialize result"));
            }
            eprintln!("{}", r.human());
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
