//! `idle` scenario: N connections held open, answering pings; server RSS per
//! connection and connections opened per second.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::probe::Probe;
use crate::stats::{self, progress, progress_done, RunResult, Snapshot};
use crate::ws::{push_text_frame, WsConn};
use crate::Common;

/// Parameters of the idle scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct IdleOpts {
    /// Connections to open and hold.
    #[arg(long, default_value_t = 5000)]
    pub conns: usize,
    /// Loopback source addresses to spread over (127.0.0.1 ..= 127.0.0.N);
    /// 0 = automatic (one per 16,000 connections).
    #[arg(long, default_value_t = 0)]
    pub source_addrs: usize,
    /// Handshakes in progress at once.
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
}

/// Source address for connection `i` when spreading over `addrs` loopback addresses.
pub fn source_addr(i: usize, addrs: usize) -> Option<IpAddr> {
    if addrs <= 1 {
        return None;
    }
    let k = (i % addrs) as u8;
    Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + k)))
}

#[derive(Default)]
struct Counters {
    connected: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    pings: AtomicU64,
}

/// Runs the idle scenario.
pub async fn run(c: &Common, o: &IdleOpts, probe: Option<&Probe>) -> Result<RunResult, String> {
    let asked = o.conns.clamp(1, 200_000);
    // Both ends need one descriptor per connection; the generator cannot exceed its limit
    // (the server, started from the same shell, usually has the same one).
    let limit = crate::raise_nofile() as usize;
    let n = asked.min(limit.saturating_sub(256).max(1));
    let clamp_note = if n < asked {
        format!("clamped from {asked} to {n} connections by the open-files limit ({limit}; raise `ulimit -n`)")
    } else {
        String::new()
    };
    let addrs = if o.source_addrs > 0 {
        o.source_addrs.min(250)
    } else {
        n.div_ceil(16_000)
    };
    let rss_before = probe.and_then(Probe::rss_kib);
    let cnt = Arc::new(Counters::default());
    let sem = Arc::new(Semaphore::new(o.concurrency.max(1)));
    let first_err = Arc::new(std::sync::Mutex::new(None::<String>));
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (cnt, sem, target, fe) = (
            cnt.clone(),
            sem.clone(),
            c.target.clone(),
            first_err.clone(),
        );
        let src = source_addr(i, addrs);
        tasks.push(tokio::spawn(async move {
            let permit = sem.acquire_owned().await.expect("semaphore open");
            let ws = WsConn::open_session(&target, src, 512).await;
            drop(permit);
            let mut ws = match ws {
                Ok(ws) => ws,
                Err(e) => {
                    cnt.failed.fetch_add(1, Ordering::Relaxed);
                    fe.lock()
                        .unwrap()
                        .get_or_insert(format!("connection {i} from {src:?}: {e}"));
                    return;
                }
            };
            cnt.connected.fetch_add(1, Ordering::Relaxed);
            loop {
                let mut pings = 0;
                let ok = ws.read_more().await.is_ok()
                    && ws
                        .drain(|m, out| {
                            if m == b"2" {
                                pings += 1;
                                push_text_frame(out, &[b"3"]);
                            }
                        })
                        .is_ok()
                    && ws.flush().await.is_ok();
                cnt.pings.fetch_add(pings, Ordering::Relaxed);
                if !ok {
                    if stats::phase() < stats::DONE {
                        cnt.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    return;
                }
            }
        }));
    }
    let limit = Duration::from_secs_f64(c.connect_timeout.max(n as f64 / 500.0));
    loop {
        let ok = cnt.connected.load(Ordering::Relaxed);
        let bad = cnt.failed.load(Ordering::Relaxed);
        progress(&format!(
            "idle: {ok}/{n} connected, {bad} failed, {:.1}s",
            t0.elapsed().as_secs_f64()
        ));
        if ok + bad >= n as u64 || t0.elapsed() > limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    progress_done();
    let connect_s = t0.elapsed().as_secs_f64();
    let connected = cnt.connected.load(Ordering::Relaxed);
    if connected == 0 {
        stats::set_phase(stats::DONE);
        for t in &tasks {
            t.abort();
        }
        let e = first_err.lock().unwrap().clone().unwrap_or_default();
        return Err(format!("idle: no connection succeeded: {e}"));
    }
    // Settle, then measure the held connections.
    let (a, b, _) = crate::measure(c, || 0, || false, "idle").await;
    let rss_after = probe.and_then(Probe::rss_kib);
    stats::set_phase(stats::DONE);
    for t in tasks {
        t.abort();
    }
    let failed = cnt.failed.load(Ordering::Relaxed);
    let dropped = cnt.dropped.load(Ordering::Relaxed);
    let mut r = RunResult {
        scenario: "idle".into(),
        params: serde_json::json!({
            "conns": n, "asked": asked, "source_addrs": addrs.max(1), "concurrency": o.concurrency,
            "pings_answered": cnt.pings.load(Ordering::Relaxed),
            "cpu_unit": "server CPU µs per connection-second while idle"
        }),
        connections: connected,
        connect_per_s: Some(connected as f64 / connect_s),
        errors: failed + dropped,
        rss_before_kib: rss_before,
        rss_after_kib: rss_after,
        note: [
            clamp_note,
            first_err.lock().unwrap().clone().unwrap_or_default(),
        ]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("; "),
        ..Default::default()
    };
    // "messages" for idle = connection-seconds, so CPU per message = µs per connection-second.
    let conn_s = (connected as f64 * b_minus_a(&a, &b)).round() as u64;
    r.fill_window(&a, &b, conn_s);
    r.messages = connected;
    r.rate_per_s = connected as f64 / connect_s;
    if let (Some(x), Some(y)) = (rss_before, rss_after) {
        r.rss_per_conn_kib = Some((y as f64 - x as f64) / connected as f64);
    }
    Ok(r)
}

fn b_minus_a(a: &Snapshot, b: &Snapshot) -> f64 {
    b.elapsed_since(a)
}
