//! `echo` scenario: C clients, each keeping K acked `echo` requests in flight.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hdrhistogram::Histogram;

use crate::stats::{self, new_hist, record, RunResult, MEASURE};
use crate::ws::{digits, parse_u64, push_header, push_text_frame, WsConn};
use crate::{connect_all, measure, Common};

/// Parameters of the echo scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct EchoOpts {
    /// Concurrent clients.
    #[arg(long, default_value_t = 50)]
    pub clients: usize,
    /// Acked requests each client keeps in flight.
    #[arg(long, default_value_t = 8)]
    pub inflight: usize,
    /// Length of the echoed string, bytes.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
}

const RING: usize = 4096;

struct Shared {
    acks: AtomicU64,
    reads: AtomicU64,
    bad_acks: AtomicU64,
    errors: AtomicU64,
    hist: Mutex<Histogram<u64>>,
    base: Instant,
    /// `","<size × 'x'>"]` — the part of every request after the ack id and event name.
    suffix: Vec<u8>,
}

fn push_echo(out: &mut Vec<u8>, id: u64, suffix: &[u8]) {
    let (d, i) = digits(id);
    let len = 2 + (d.len() - i) + 7 + suffix.len();
    push_header(out, 0x81, len);
    out.extend_from_slice(b"42");
    out.extend_from_slice(&d[i..]);
    out.extend_from_slice(b"[\"echo\"");
    out.extend_from_slice(suffix);
}

async fn client(mut ws: WsConn, k: usize, sh: Arc<Shared>) {
    let mut sent_at = vec![0u64; RING];
    let mut next: u64 = 0;
    let now = sh.base.elapsed().as_micros() as u64;
    for _ in 0..k {
        sent_at[next as usize % RING] = now;
        push_echo(&mut ws.out, next, &sh.suffix);
        next += 1;
    }
    if ws.flush().await.is_err() {
        sh.errors.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut lat: Vec<u64> = Vec::with_capacity(64);
    loop {
        if stats::phase() >= stats::DRAIN {
            return;
        }
        if ws.read_more().await.is_err() {
            if stats::phase() < stats::DRAIN {
                sh.errors.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        sh.reads.fetch_add(1, Ordering::Relaxed);
        let now = sh.base.elapsed().as_micros() as u64;
        let mut acks = 0u64;
        let mut bad = 0u64;
        let suffix = &sh.suffix;
        let r = ws.drain(|m, out| {
            if let Some(rest) = m.strip_prefix(b"43") {
                if let Some((id, args)) = parse_u64(rest) {
                    // The ack must carry the echoed argument: `["xxx…"]`.
                    if args.first() != Some(&b'[') || args[1..] != suffix[1..] {
                        bad += 1;
                    }
                    lat.push(now.saturating_sub(sent_at[id as usize % RING]));
                    acks += 1;
                    sent_at[next as usize % RING] = now;
                    push_echo(out, next, suffix);
                    next += 1;
                }
            } else if m == b"2" {
                push_text_frame(out, &[b"3"]);
            }
        });
        if r.is_err() || ws.flush().await.is_err() {
            sh.errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
        sh.acks.fetch_add(acks, Ordering::Relaxed);
        if bad > 0 {
            sh.bad_acks.fetch_add(bad, Ordering::Relaxed);
        }
        if stats::phase() == MEASURE && !lat.is_empty() {
            let mut h = sh.hist.lock().unwrap();
            for &v in &lat {
                record(&mut h, v);
            }
        }
        lat.clear();
    }
}

/// Runs the echo scenario.
pub async fn run(c: &Common, o: &EchoOpts) -> Result<RunResult, String> {
    let mut suffix = b",\"".to_vec();
    suffix.extend(std::iter::repeat_n(b'x', o.size));
    suffix.extend_from_slice(b"\"]");
    let sh = Arc::new(Shared {
        acks: AtomicU64::new(0),
        reads: AtomicU64::new(0),
        bad_acks: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        hist: Mutex::new(new_hist()),
        base: Instant::now(),
        suffix,
    });
    let conns = connect_all(c, o.clients, 0, 4096, None).await?;
    let mut tasks = Vec::new();
    for ws in conns {
        tasks.push(tokio::spawn(client(ws, o.inflight, sh.clone())));
    }
    let s2 = sh.clone();
    let (a, b, n) = measure(c, move || s2.acks.load(Ordering::Relaxed), || false, "acks").await;
    stats::set_phase(stats::DONE);
    for t in tasks {
        t.abort();
    }
    let mut r = RunResult {
        scenario: "echo".into(),
        params: serde_json::json!({
            "clients": o.clients, "inflight": o.inflight, "size": o.size,
            "acks_per_read": sh.acks.load(Ordering::Relaxed) as f64
                / sh.reads.load(Ordering::Relaxed).max(1) as f64,
        }),
        connections: o.clients as u64,
        errors: sh.errors.load(Ordering::Relaxed) + sh.bad_acks.load(Ordering::Relaxed),
        note: match sh.bad_acks.load(Ordering::Relaxed) {
            0 => String::new(),
            n => format!("{n} acks did not carry the echoed argument"),
        },
        ..Default::default()
    };
    r.fill_window(&a, &b, n);
    r.fill_latency(&sh.hist.lock().unwrap());
    Ok(r)
}
