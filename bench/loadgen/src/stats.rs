//! Measurement plumbing shared by the scenarios: the run phase, latency histograms,
//! the measured window (server CPU, generator CPU, counters) and the result record.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::probe::{self_cpu, Probe};

/// Warming up: traffic flows, nothing is recorded.
pub const WARMUP: u8 = 0;
/// Measured window: latencies are recorded.
pub const MEASURE: u8 = 1;
/// Senders stop; receivers drain what is still in flight.
pub const DRAIN: u8 = 2;
/// Everyone stops.
pub const DONE: u8 = 3;

/// The current phase of the run, read by every connection task.
pub static PHASE: AtomicU8 = AtomicU8::new(WARMUP);

/// The current phase.
#[inline]
pub fn phase() -> u8 {
    PHASE.load(Ordering::Relaxed)
}

/// Sets the phase.
pub fn set_phase(p: u8) {
    PHASE.store(p, Ordering::SeqCst);
}

/// A latency histogram in microseconds (1 µs .. 1 h, 3 significant digits).
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Records `us` (clamped into the histogram's range).
#[inline]
pub fn record(h: &mut Histogram<u64>, us: u64) {
    h.saturating_record(us.max(1));
}

/// CPU and wall-clock snapshot at one edge of the measured window.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    at: Instant,
    /// Server (user, kernel) CPU seconds.
    server_cpu: Option<(f64, f64)>,
    gen_cpu: Duration,
}

impl Snapshot {
    /// Seconds between `a` and this snapshot.
    pub fn elapsed_since(&self, a: &Snapshot) -> f64 {
        self.at.duration_since(a.at).as_secs_f64()
    }

    /// Takes a snapshot now.
    pub fn take(server: Option<&Probe>) -> Self {
        Self {
            at: Instant::now(),
            server_cpu: server.and_then(Probe::cpu_split_s),
            gen_cpu: self_cpu(),
        }
    }
}

/// One scenario run on one peer: what `--json` prints, one object per line.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunResult {
    /// Scenario name (`echo`, `broadcast`, `broadcast-rate`, `idle`, `echo-polling`).
    pub scenario: String,
    /// Peer label given with `--peer`.
    pub peer: String,
    /// Run index given with `--run`.
    pub run: u32,
    /// Scenario parameters (clients, in-flight, receivers, rate, …).
    pub params: serde_json::Value,
    /// Length of the measured window, seconds.
    pub window_s: f64,
    /// Messages counted in the window (acks, deliveries, or connections for `idle`).
    pub messages: u64,
    /// Messages per second in the window.
    pub rate_per_s: f64,
    /// Latency percentiles in µs (None where the scenario has none).
    pub p50_us: Option<f64>,
    /// 99th percentile latency, µs.
    pub p99_us: Option<f64>,
    /// 99.9th percentile latency, µs.
    pub p999_us: Option<f64>,
    /// Largest latency, µs.
    pub max_us: Option<f64>,
    /// Server CPU seconds in the window (utime + stime).
    pub server_cpu_s: Option<f64>,
    /// Server CPU µs per message (per ack, per delivery; per connection-second for `idle`).
    pub server_cpu_us_per_msg: Option<f64>,
    /// The user-space part of `server_cpu_us_per_msg` (utime).
    pub server_user_us_per_msg: Option<f64>,
    /// The kernel's part of `server_cpu_us_per_msg` (stime: system calls, and
    /// on loopback the TCP work of both ends of each segment the server sends).
    pub server_sys_us_per_msg: Option<f64>,
    /// Server CPU use in the window as a fraction of one core.
    pub server_cpu_util: Option<f64>,
    /// Generator CPU use in the window as a fraction of one core (≈1.0 = saturated).
    pub gen_cpu_util: f64,
    /// Messages lost (broadcast: expected deliveries never received).
    pub lost: Option<u64>,
    /// Errors (failed connections, protocol errors, unexpected disconnects).
    pub errors: u64,
    /// Connections held (idle) or used.
    pub connections: u64,
    /// Connections opened per second (idle).
    pub connect_per_s: Option<f64>,
    /// Server RSS before connecting, KiB.
    pub rss_before_kib: Option<u64>,
    /// Server RSS at the end of the window, KiB.
    pub rss_after_kib: Option<u64>,
    /// (rss_after - rss_before) / connections, KiB.
    pub rss_per_conn_kib: Option<f64>,
    /// Free-form note (stall, skipped parts).
    pub note: String,
}

impl RunResult {
    /// Fills window, rates and CPU figures from the two snapshots and the message count.
    pub fn fill_window(&mut self, a: &Snapshot, b: &Snapshot, messages: u64) {
        let w = b.at.duration_since(a.at).as_secs_f64().max(1e-9);
        self.window_s = w;
        self.messages = messages;
        self.rate_per_s = messages as f64 / w;
        self.gen_cpu_util = (b.gen_cpu.saturating_sub(a.gen_cpu)).as_secs_f64() / w;
        if let (Some((ua, ka)), Some((ub, kb))) = (a.server_cpu, b.server_cpu) {
            let (user, kernel) = ((ub - ua).max(0.0), (kb - ka).max(0.0));
            let cpu = user + kernel;
            self.server_cpu_s = Some(cpu);
            self.server_cpu_util = Some(cpu / w);
            if messages > 0 {
                let per = |s: f64| Some(s * 1e6 / messages as f64);
                self.server_cpu_us_per_msg = per(cpu);
                self.server_user_us_per_msg = per(user);
                self.server_sys_us_per_msg = per(kernel);
            }
        }
    }

    /// Fills the latency percentiles from `h` (if it holds any sample).
    pub fn fill_latency(&mut self, h: &Histogram<u64>) {
        if h.is_empty() {
            return;
        }
        self.p50_us = Some(h.value_at_quantile(0.5) as f64);
        self.p99_us = Some(h.value_at_quantile(0.99) as f64);
        self.p999_us = Some(h.value_at_quantile(0.999) as f64);
        self.max_us = Some(h.max() as f64);
    }

    /// A one-paragraph human summary.
    pub fn human(&self) -> String {
        let f = |o: Option<f64>| o.map_or("-".to_string(), |v| format!("{v:.2}"));
        let mut s = format!(
            "{} on {} (run {}): {} msgs in {:.2}s = {:.0}/s; server CPU {} µs/msg (util {}); \
             gen CPU util {:.2}",
            self.scenario,
            self.peer,
            self.run,
            self.messages,
            self.window_s,
            self.rate_per_s,
            f(self.server_cpu_us_per_msg),
            f(self.server_cpu_util),
            self.gen_cpu_util
        );
        if self.p50_us.is_some() {
            s += &format!(
                "; latency p50 {} µs p99 {} µs max {} µs",
                f(self.p50_us),
                f(self.p99_us),
                f(self.max_us)
            );
        }
        if let Some(l) = self.lost {
            s += &format!("; lost {l}");
        }
        if let Some(r) = self.rss_per_conn_kib {
            s += &format!(
                "; {} conns, RSS {:.2} KiB/conn, {} conn/s",
                self.connections,
                r,
                f(self.connect_per_s)
            );
        }
        s += &format!("; errors {}", self.errors);
        if !self.note.is_empty() {
            s += &format!("; note: {}", self.note);
        }
        s
    }
}

/// Prints a progress line on stderr (overwritten in place).
pub fn progress(msg: &str) {
    use std::io::Write;
    let mut e = std::io::stderr();
    let _ = write!(e, "\r\x1b[2K{msg}");
    let _ = e.flush();
}

/// Ends the progress line.
pub fn progress_done() {
    eprintln!();
}
