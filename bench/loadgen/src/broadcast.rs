//! `broadcast` scenario: N receivers in room `bench`, one sender emitting `bcast`
//! events that carry a sequence number and a send timestamp; either a window of
//! broadcasts not yet delivered to everyone (throughput) or a fixed rate (latency).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::Notify;

use crate::stats::{self, new_hist, record, RunResult, MEASURE};
use crate::ws::{digits, parse_u64, push_header, push_text_frame, WsConn};
use crate::{connect_all, measure, Common};

/// Parameters of the broadcast scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct BcastOpts {
    /// Receivers joined to room `bench`.
    #[arg(long, default_value_t = 1000)]
    pub receivers: usize,
    /// Broadcasts in flight (sent but not yet delivered to every receiver).
    #[arg(long, default_value_t = 8)]
    pub window: u64,
    /// Fixed rate, broadcasts per second (replaces the window; latency variant).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds without progress after which the sender declares a stall.
    #[arg(long, default_value_t = 5.0)]
    pub stall: f64,
    /// Connect the sender to this server instead of `--url` (a cluster: the
    /// broadcast crosses from that server to the receivers' one).
    #[arg(long)]
    pub sender_url: Option<String>,
    /// Spread the receivers evenly over these servers (comma-separated URLs,
    /// a cluster) instead of `--url`.
    #[arg(long, value_delimiter = ',')]
    pub receiver_urls: Vec<String>,
}

const RING: usize = 1 << 16;
const MSG_PREFIX: &[u8] = b"42[\"msg\",[";

struct Shared {
    /// Per sequence slot: `seq << 32 | receivers that got it`.
    slots: Vec<AtomicU64>,
    sent: AtomicU64,
    completed: AtomicU64,
    delivered: AtomicU64,
    reads: AtomicU64,
    out_of_order: AtomicU64,
    errors: AtomicU64,
    stalled: AtomicBool,
    notify: Notify,
    hist: Mutex<Histogram<u64>>,
    n: u64,
    base: Instant,
}

async fn receiver(mut ws: WsConn, sh: Arc<Shared>) {
    let mut expect: u64 = 0;
    let mut lat: Vec<u64> = Vec::with_capacity(64);
    loop {
        if ws.read_more().await.is_err() {
            if stats::phase() < stats::DONE {
                sh.errors.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        sh.reads.fetch_add(1, Ordering::Relaxed);
        let now = sh.base.elapsed().as_micros() as u64;
        let mut got = 0u64;
        let r = ws.drain(|m, out| {
            if let Some(rest) = m.strip_prefix(MSG_PREFIX) {
                let Some((seq, rest)) = parse_u64(rest) else {
                    return;
                };
                let t = rest
                    .strip_prefix(b",")
                    .and_then(parse_u64)
                    .map_or(0, |(t, _)| t);
                got += 1;
                if seq != expect {
                    sh.out_of_order.fetch_add(1, Ordering::Relaxed);
                }
                expect = seq + 1;
                lat.push(now.saturating_sub(t));
                let slot = &sh.slots[seq as usize % RING];
                let v = slot.fetch_add(1, Ordering::AcqRel);
                if v >> 32 == seq && (v & 0xffff_ffff) + 1 == sh.n {
                    sh.completed.fetch_add(1, Ordering::AcqRel);
                    sh.notify.notify_one();
                }
            } else if m == b"2" {
                push_text_frame(out, &[b"3"]);
            }
        });
        if r.is_err() || ws.flush().await.is_err() {
            sh.errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
        sh.delivered.fetch_add(got, Ordering::Relaxed);
        if stats::phase() == MEASURE && !lat.is_empty() {
            let mut h = sh.hist.lock().unwrap();
            for &v in &lat {
                record(&mut h, v);
            }
        }
        lat.clear();
    }
}

fn push_bcast(out: &mut Vec<u8>, seq: u64, t: u64) {
    let (s, si) = digits(seq);
    let (d, di) = digits(t);
    // 42["bcast",[seq,t]]
    let len = 12 + (20 - si) + 1 + (20 - di) + 2;
    push_header(out, 0x81, len);
    out.extend_from_slice(b"42[\"bcast\",[");
    out.extend_from_slice(&s[si..]);
    out.push(b',');
    out.extend_from_slice(&d[di..]);
    out.extend_from_slice(b"]]");
}

async fn sender(mut ws: WsConn, sh: Arc<Shared>, o: BcastOpts) {
    let stall = Duration::from_secs_f64(o.stall.max(0.5));
    let mut interval = o.rate.map(|r| {
        let mut i = tokio::time::interval(Duration::from_secs_f64(1.0 / r.max(0.001)));
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });
    let mut last_progress = Instant::now();
    let mut last_completed = 0;
    let mut seq: u64 = 0;
    loop {
        if stats::phase() >= stats::DRAIN {
            return;
        }
        let completed = sh.completed.load(Ordering::Acquire);
        if completed != last_completed {
            last_completed = completed;
            last_progress = Instant::now();
        }
        let can_send = match interval {
            Some(_) => false,
            None => seq - completed < o.window,
        };
        if can_send {
            while seq - sh.completed.load(Ordering::Acquire) < o.window {
                let slot = &sh.slots[seq as usize % RING];
                slot.store(seq << 32, Ordering::Release);
                push_bcast(&mut ws.out, seq, sh.base.elapsed().as_micros() as u64);
                seq += 1;
            }
            sh.sent.store(seq, Ordering::Release);
            if ws.flush().await.is_err() {
                sh.errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
            continue;
        }
        if seq > completed && last_progress.elapsed() > stall {
            sh.stalled.store(true, Ordering::Release);
            return;
        }
        let tick = async {
            match interval.as_mut() {
                Some(i) => {
                    i.tick().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sh.notify.notified() => {}
            _ = tick => {
                let slot = &sh.slots[seq as usize % RING];
                slot.store(seq << 32, Ordering::Release);
                push_bcast(&mut ws.out, seq, sh.base.elapsed().as_micros() as u64);
                seq += 1;
                sh.sent.store(seq, Ordering::Release);
            }
            r = ws.read_more() => {
                if r.is_err() || ws.drain(|m, out| if m == b"2" { push_text_frame(out, &[b"3"]) }).is_err() {
                    sh.errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        if ws.flush().await.is_err() {
            sh.errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
}

/// Joins every connection to room `bench` (ack id 0) and waits for the acks.
async fn join_all(conns: &mut [WsConn], timeout: Duration) -> Result<(), String> {
    for ws in conns.iter_mut() {
        push_text_frame(&mut ws.out, &[b"420[\"join\",\"bench\"]"]);
        ws.flush().await.map_err(|e| format!("join: {e}"))?;
    }
    let deadline = tokio::time::Instant::now() + timeout;
    for ws in conns.iter_mut() {
        let mut acked = false;
        loop {
            ws.drain(|m, out| {
                if m.starts_with(b"430") {
                    acked = true;
                } else if m == b"2" {
                    push_text_frame(out, &[b"3"]);
                }
            })
            .map_err(|e| format!("join: {e}"))?;
            ws.flush().await.map_err(|e| format!("join: {e}"))?;
            if acked {
                break;
            }
            tokio::time::timeout_at(deadline, ws.read_more())
                .await
                .map_err(|_| "join: no ack before the timeout".to_string())?
                .map_err(|e| format!("join: {e}"))?;
        }
    }
    Ok(())
}

/// Runs the broadcast scenario.
pub async fn run(c: &Common, o: &BcastOpts) -> Result<RunResult, String> {
    let n = o.receivers.max(1);
    let sh = Arc::new(Shared {
        slots: (0..RING).map(|_| AtomicU64::new(u64::MAX)).collect(),
        sent: AtomicU64::new(0),
        completed: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        reads: AtomicU64::new(0),
        out_of_order: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        stalled: AtomicBool::new(false),
        notify: Notify::new(),
        hist: Mutex::new(new_hist()),
        n: n as u64,
        base: Instant::now(),
    });
    let (mut conns, snd) = match &o.sender_url {
        Some(url) => {
            let t = crate::ws::Target::parse(url)?;
            let snd = WsConn::open_session(&t, None, 4096)
                .await
                .map_err(|e| format!("cannot open the sender's session at {url}: {e}"))?;
            let conns = if o.receiver_urls.is_empty() {
                connect_all(c, n, 0, 4096, None).await?
            } else {
                let k = o.receiver_urls.len();
                let mut all = Vec::with_capacity(n);
                for (i, u) in o.receiver_urls.iter().enumerate() {
                    let mut ci = c.clone();
                    ci.target = crate::ws::Target::parse(u)?;
                    let share = n / k + usize::from(i < n % k);
                    all.extend(connect_all(&ci, share, 0, 4096, None).await?);
                }
                all
            };
            (conns, snd)
        }
        None => {
            let mut conns = connect_all(c, n + 1, 0, 4096, None).await?;
            let snd = conns.pop().expect("n + 1 connections");
            (conns, snd)
        }
    };
    join_all(&mut conns, Duration::from_secs_f64(c.connect_timeout)).await?;
    let mut tasks = Vec::new();
    for ws in conns {
        tasks.push(tokio::spawn(receiver(ws, sh.clone())));
    }
    tasks.push(tokio::spawn(sender(snd, sh.clone(), o.clone())));
    let s2 = sh.clone();
    let s3 = sh.clone();
    let (a, b, count) = measure(
        c,
        move || s2.delivered.load(Ordering::Relaxed),
        move || s3.stalled.load(Ordering::Relaxed),
        "deliveries",
    )
    .await;
    // Drain: wait until everything sent has been delivered, or 3 s.
    let deadline = Instant::now() + Duration::from_secs(3);
    let expected = || sh.sent.load(Ordering::Acquire) * n as u64;
    while sh.delivered.load(Ordering::Relaxed) < expected() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stats::set_phase(stats::DONE);
    for t in tasks {
        t.abort();
    }
    let delivered = sh.delivered.load(Ordering::Relaxed);
    let lost = expected().saturating_sub(delivered);
    let mut note = Vec::new();
    if sh.stalled.load(Ordering::Acquire) {
        note.push(format!("stalled: no broadcast completed for {} s", o.stall));
    }
    let ooo = sh.out_of_order.load(Ordering::Relaxed);
    if ooo > 0 {
        note.push(format!("{ooo} out-of-order deliveries"));
    }
    let mut r = RunResult {
        scenario: if o.rate.is_some() {
            "broadcast-rate"
        } else {
            "broadcast"
        }
        .into(),
        params: serde_json::json!({
            "receivers": n, "window": o.window, "rate": o.rate,
            "sent": sh.sent.load(Ordering::Relaxed), "delivered": delivered,
            "deliveries_per_read": delivered as f64 / sh.reads.load(Ordering::Relaxed).max(1) as f64,
        }),
        connections: n as u64 + 1,
        lost: Some(lost),
        errors: sh.errors.load(Ordering::Relaxed),
        note: note.join("; "),
        ..Default::default()
    };
    r.fill_window(&a, &b, count);
    r.fill_latency(&sh.hist.lock().unwrap());
    Ok(r)
}
