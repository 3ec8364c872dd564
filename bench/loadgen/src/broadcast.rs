//! `broadcast` scenario: N receivers in room `bench`, one sender emitting `bcast`
//! events that carry a sequence number and a send timestamp; either a window of
//! broadcasts not yet delivered to everyone (throughput) or a fixed rate (latency).
//!
//! With `--chat` the same measurement drives sockio-chat's `/chat` protocol
//! instead: the receivers join room `bench` as guests, a registered sender posts
//! `message {room, text}` (text `"<seq>,<t>,<padding>"`, acknowledged) and the
//! receivers count `new-message` deliveries; the message is stored before it is
//! delivered. `--pad` makes both variants carry payloads of a chosen size.

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
    /// Drive sockio-chat's `/chat` protocol (guests in room `bench`, a registered
    /// sender posting `message`) instead of the bench contract's `join` / `bcast`.
    #[arg(long)]
    pub chat: bool,
    /// Characters of padding carried by each message (to compare equal sizes).
    #[arg(long, default_value_t = 0)]
    pub pad: usize,
    /// Connect the sender to this server instead of `--url` (a cluster: the
    /// broadcast crosses from that server to the receivers' one).
    #[arg(long)]
    pub sender_url: Option<String>,
    /// Spread the receivers evenly over these servers (comma-separated URLs,
    /// a cluster) instead of `--url`.
    #[arg(long, value_delimiter = ',')]
    pub receiver_urls: Vec<String>,
    /// Loopback source addresses the receivers' connections spread over
    /// (127.0.0.1 ..= 127.0.0.N; 0: the system's choice).
    #[arg(long, default_value_t = 0)]
    pub source_addrs: usize,
    /// Which part this process plays. `both` (default): receivers and sender.
    /// Split over processes (more clients than one process may open files):
    /// `receivers` processes hold receivers only and `sender` sends only; see
    /// `--ready-file`, `--stop-file` and `--wall-clock` (bench/cluster.sh --procs).
    #[arg(long, value_enum, default_value_t = Role::Both)]
    pub role: Role,
    /// Timestamps in microseconds since the Unix epoch, comparable between the
    /// processes of a split run (default: since this process started).
    #[arg(long)]
    pub wall_clock: bool,
    /// `receivers`: file created once every receiver has joined room `bench`.
    #[arg(long)]
    pub ready_file: Option<std::path::PathBuf>,
    /// `receivers`: file whose appearance ends the run; it holds the number of
    /// broadcasts the sender sent, so that the receivers can count what is lost.
    #[arg(long)]
    pub stop_file: Option<std::path::PathBuf>,
    /// `receivers`: latencies of broadcasts numbered below this are not
    /// recorded (the sender's warm-up: rate x warm-up seconds).
    #[arg(long, default_value_t = 0)]
    pub latency_from_seq: u64,
}

/// The part a `broadcast` process plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Receivers and the sender in this process (the usual run).
    Both,
    /// Receivers only; the run ends when `--stop-file` appears.
    Receivers,
    /// The sender only (needs `--rate`); prints how many it sent.
    Sender,
}

const RING: usize = 1 << 16;
const MSG_PREFIX: &[u8] = b"42[\"msg\",[";
const CHAT_PREFIX: &[u8] = b"42/chat,[\"new-message\",{";
const CHAT_TEXT: &[u8] = b"\"text\":\"";

struct Shared {
    /// Per sequence slot: `seq << 32 | receivers that got it`.
    slots: Vec<AtomicU64>,
    sent: AtomicU64,
    completed: AtomicU64,
    delivered: AtomicU64,
    reads: AtomicU64,
    bytes: AtomicU64,
    out_of_order: AtomicU64,
    errors: AtomicU64,
    stalled: AtomicBool,
    notify: Notify,
    hist: Mutex<Histogram<u64>>,
    n: u64,
    base: Instant,
    wall_clock: bool,
    latency_from_seq: u64,
}

impl Shared {
    /// Now, in microseconds: since `base`, or since the Unix epoch with `--wall-clock`.
    fn now_us(&self) -> u64 {
        if self.wall_clock {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64)
        } else {
            self.base.elapsed().as_micros() as u64
        }
    }
}

/// The `seq,t...` part of a delivery, if `m` is one.
fn delivery(m: &[u8], chat: bool) -> Option<&[u8]> {
    if chat {
        let rest = m.strip_prefix(CHAT_PREFIX)?;
        let i = crate::ws::find(rest, CHAT_TEXT)?;
        Some(&rest[i + CHAT_TEXT.len()..])
    } else {
        m.strip_prefix(MSG_PREFIX)
    }
}

async fn receiver(mut ws: WsConn, sh: Arc<Shared>, chat: bool) {
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
        let now = sh.now_us();
        let mut got = 0u64;
        let mut bytes = 0u64;
        let r = ws.drain(|m, out| {
            if let Some(rest) = delivery(m, chat) {
                let Some((seq, rest)) = parse_u64(rest) else {
                    return;
                };
                let t = rest
                    .strip_prefix(b",")
                    .and_then(parse_u64)
                    .map_or(0, |(t, _)| t);
                got += 1;
                bytes += m.len() as u64;
                if seq != expect {
                    sh.out_of_order.fetch_add(1, Ordering::Relaxed);
                }
                expect = seq + 1;
                if seq >= sh.latency_from_seq {
                    lat.push(now.saturating_sub(t));
                }
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
        sh.bytes.fetch_add(bytes, Ordering::Relaxed);
        if stats::phase() == MEASURE && !lat.is_empty() {
            let mut h = sh.hist.lock().unwrap();
            for &v in &lat {
                record(&mut h, v);
            }
        }
        lat.clear();
    }
}

fn push_bcast(out: &mut Vec<u8>, seq: u64, t: u64, o: &BcastOpts) {
    let (s, si) = digits(seq);
    let (d, di) = digits(t);
    if o.chat {
        // 42/chat,<ack>["message",{"room":"bench","text":"seq,t,pad"}]
        let mut m = Vec::with_capacity(80 + o.pad);
        m.extend_from_slice(b"42/chat,");
        m.extend_from_slice(&s[si..]);
        m.extend_from_slice(b"[\"message\",{\"room\":\"bench\",\"text\":\"");
        m.extend_from_slice(&s[si..]);
        m.push(b',');
        m.extend_from_slice(&d[di..]);
        m.push(b',');
        m.resize(m.len() + o.pad, b'x');
        m.extend_from_slice(b"\"}]");
        push_text_frame(out, &[&m]);
        return;
    }
    // 42["bcast",[seq,t]] or 42["bcast",[seq,t,"pad"]]
    let pad = if o.pad > 0 { 3 + o.pad } else { 0 };
    let len = 12 + (20 - si) + 1 + (20 - di) + pad + 2;
    push_header(out, 0x81, len);
    out.extend_from_slice(b"42[\"bcast\",[");
    out.extend_from_slice(&s[si..]);
    out.push(b',');
    out.extend_from_slice(&d[di..]);
    if o.pad > 0 {
        out.extend_from_slice(b",\"");
        out.resize(out.len() + o.pad, b'x');
        out.push(b'"');
    }
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
                push_bcast(&mut ws.out, seq, sh.now_us(), &o);
                seq += 1;
            }
            sh.sent.store(seq, Ordering::Release);
            if ws.flush().await.is_err() {
                sh.errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
            continue;
        }
        if o.role == Role::Both && seq > completed && last_progress.elapsed() > stall {
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
                push_bcast(&mut ws.out, seq, sh.now_us(), &o);
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

/// Sends `frame` and waits for the message that starts with `reply`; returns it.
async fn request(
    ws: &mut WsConn,
    frame: &[u8],
    reply: &[u8],
    deadline: tokio::time::Instant,
) -> Result<Vec<u8>, String> {
    if !frame.is_empty() {
        push_text_frame(&mut ws.out, &[frame]);
    }
    let mut got = None;
    loop {
        ws.drain(|m, out| {
            if got.is_none() && m.starts_with(reply) {
                got = Some(m.to_vec());
            } else if m == b"2" {
                push_text_frame(out, &[b"3"]);
            }
        })
        .map_err(|e| e.to_string())?;
        ws.flush().await.map_err(|e| e.to_string())?;
        if let Some(g) = got {
            return Ok(g);
        }
        tokio::time::timeout_at(deadline, ws.read_more())
            .await
            .map_err(|_| format!("no `{}` before the timeout", String::from_utf8_lossy(reply)))?
            .map_err(|e| e.to_string())?;
    }
}

/// sockio-chat: everyone connects `/chat`; the sender registers and creates room
/// `bench`; the receivers `identify` as guests and `join room`; then the sender joins.
async fn chat_setup(
    conns: &mut [WsConn],
    snd: &mut WsConn,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    for ws in conns.iter_mut().chain(std::iter::once(&mut *snd)) {
        push_text_frame(&mut ws.out, &[b"40/chat,"]);
        ws.flush()
            .await
            .map_err(|e| format!("connect /chat: {e}"))?;
    }
    for ws in conns.iter_mut().chain(std::iter::once(&mut *snd)) {
        request(ws, b"", b"40/chat,", deadline)
            .await
            .map_err(|e| format!("connect /chat: {e}"))?;
    }
    let name = format!(
        "bench{}x{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let reg = format!(
        "42/chat,1[\"register\",{{\"username\":\"{name}\",\"password\":\"bench-password\"}}]"
    );
    let r = request(snd, reg.as_bytes(), b"43/chat,1[", deadline).await?;
    if crate::ws::find(&r, b"\"ok\":true").is_none() {
        return Err(format!("register: {}", String::from_utf8_lossy(&r)));
    }
    let r = request(
        snd,
        b"42/chat,2[\"create-room\",{\"name\":\"bench\"}]",
        b"43/chat,2[",
        deadline,
    )
    .await?;
    if crate::ws::find(&r, b"\"ok\":true").is_none()
        && crate::ws::find(&r, b"room_exists").is_none()
    {
        return Err(format!("create-room: {}", String::from_utf8_lossy(&r)));
    }
    for (i, ws) in conns.iter_mut().enumerate() {
        let id = format!("42/chat,[\"identify\",\"g{i}\"]");
        push_text_frame(&mut ws.out, &[id.as_bytes()]);
        push_text_frame(
            &mut ws.out,
            &[b"42/chat,3[\"join room\",{\"room\":\"bench\"}]"],
        );
        ws.flush().await.map_err(|e| format!("join: {e}"))?;
    }
    for ws in conns.iter_mut() {
        let r = request(ws, b"", b"43/chat,3[", deadline).await?;
        if crate::ws::find(&r, b"\"ok\":true").is_none() {
            return Err(format!("join room: {}", String::from_utf8_lossy(&r)));
        }
    }
    request(
        snd,
        b"42/chat,4[\"join room\",{\"room\":\"bench\"}]",
        b"43/chat,4[",
        deadline,
    )
    .await?;
    Ok(())
}

fn shared(n: usize, o: &BcastOpts) -> Arc<Shared> {
    Arc::new(Shared {
        slots: (0..RING).map(|_| AtomicU64::new(u64::MAX)).collect(),
        sent: AtomicU64::new(0),
        completed: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        reads: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        out_of_order: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        stalled: AtomicBool::new(false),
        notify: Notify::new(),
        hist: Mutex::new(new_hist()),
        n: n as u64,
        base: Instant::now(),
        wall_clock: o.wall_clock,
        latency_from_seq: o.latency_from_seq,
    })
}

/// Connects `n` receivers: spread over `--receiver-urls`, else to `--url`.
async fn connect_receivers(c: &Common, o: &BcastOpts, n: usize) -> Result<Vec<WsConn>, String> {
    if o.receiver_urls.is_empty() {
        return connect_all(c, n, o.source_addrs, 4096, None).await;
    }
    let k = o.receiver_urls.len();
    let mut all = Vec::with_capacity(n);
    for (i, u) in o.receiver_urls.iter().enumerate() {
        let mut ci = c.clone();
        ci.target = crate::ws::Target::parse(u)?;
        let share = n / k + usize::from(i < n % k);
        all.extend(connect_all(&ci, share, o.source_addrs, 4096, None).await?);
    }
    Ok(all)
}

/// `--role receivers`: joins, says it is ready, counts deliveries until the
/// stop file names how many broadcasts were sent, then drains (at most 5 s).
/// The result's `params.latency` lists the latency histogram as `[µs, count]`
/// pairs, so that the runs of several processes can be merged.
async fn run_receivers(c: &Common, o: &BcastOpts) -> Result<RunResult, String> {
    let (Some(ready), Some(stop)) = (&o.ready_file, &o.stop_file) else {
        return Err("--role receivers needs --ready-file and --stop-file".into());
    };
    let n = o.receivers.max(1);
    let sh = shared(n, o);
    let mut conns = connect_receivers(c, o, n).await?;
    join_all(&mut conns, Duration::from_secs_f64(c.connect_timeout)).await?;
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|ws| tokio::spawn(receiver(ws, sh.clone(), o.chat)))
        .collect();
    stats::set_phase(MEASURE);
    std::fs::write(ready, b"").map_err(|e| format!("{}: {e}", ready.display()))?;
    // Bounded: the coordinator writes the stop file within minutes.
    let give_up = Instant::now() + Duration::from_secs(3600);
    let sent: u64 = loop {
        if let Ok(t) = std::fs::read_to_string(stop) {
            if let Ok(v) = t.trim().parse() {
                break v;
            }
        }
        if Instant::now() > give_up {
            return Err("no stop file within an hour".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let expected = sent * n as u64;
    let deadline = Instant::now() + Duration::from_secs(5);
    while sh.delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stats::set_phase(stats::DONE);
    for t in tasks {
        t.abort();
    }
    let delivered = sh.delivered.load(Ordering::Relaxed);
    let hist = sh.hist.lock().unwrap().clone();
    let pairs: Vec<[u64; 2]> = hist
        .iter_recorded()
        .map(|v| [v.value_iterated_to(), v.count_at_value()])
        .collect();
    let ooo = sh.out_of_order.load(Ordering::Relaxed);
    let mut r = RunResult {
        scenario: "broadcast-receivers".into(),
        params: serde_json::json!({
            "receivers": n, "sent": sent, "delivered": delivered,
            "latency_from_seq": o.latency_from_seq, "latency": pairs,
        }),
        connections: n as u64,
        messages: delivered,
        lost: Some(expected.saturating_sub(delivered)),
        errors: sh.errors.load(Ordering::Relaxed),
        note: if ooo > 0 {
            format!("{ooo} out-of-order deliveries")
        } else {
            String::new()
        },
        ..Default::default()
    };
    r.fill_latency(&hist);
    Ok(r)
}

/// `--role sender`: sends `--rate` broadcasts per second to room `bench` for
/// the warm-up and the measured window; the result's `params.sent` says how many.
async fn run_sender(c: &Common, o: &BcastOpts) -> Result<RunResult, String> {
    if o.rate.is_none() {
        return Err("--role sender needs --rate".into());
    }
    let t = match &o.sender_url {
        Some(url) => crate::ws::Target::parse(url)?,
        None => c.target.clone(),
    };
    let snd = WsConn::open_session(&t, None, 4096)
        .await
        .map_err(|e| format!("cannot open the sender's session at {}: {e}", t.addr))?;
    let sh = shared(1, o);
    let task = tokio::spawn(sender(snd, sh.clone(), o.clone()));
    let s2 = sh.clone();
    let (a, b, count) = measure(c, move || s2.sent.load(Ordering::Relaxed), || false, "sent").await;
    // measure() ends in DRAIN: the sender returns after flushing what it counted.
    let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    stats::set_phase(stats::DONE);
    let sent = sh.sent.load(Ordering::Relaxed);
    let mut r = RunResult {
        scenario: "broadcast-sender".into(),
        params: serde_json::json!({"rate": o.rate, "sent": sent}),
        connections: 1,
        errors: sh.errors.load(Ordering::Relaxed),
        ..Default::default()
    };
    r.fill_window(&a, &b, count);
    Ok(r)
}

/// Runs the broadcast scenario.
pub async fn run(c: &Common, o: &BcastOpts) -> Result<RunResult, String> {
    match o.role {
        Role::Receivers => return run_receivers(c, o).await,
        Role::Sender => return run_sender(c, o).await,
        Role::Both => {}
    }
    let n = o.receivers.max(1);
    let sh = shared(n, o);
    let (mut conns, mut snd) = match &o.sender_url {
        Some(url) => {
            let t = crate::ws::Target::parse(url)?;
            let snd = WsConn::open_session(&t, None, 4096)
                .await
                .map_err(|e| format!("cannot open the sender's session at {url}: {e}"))?;
            let conns = connect_receivers(c, o, n).await?;
            (conns, snd)
        }
        None => {
            let mut conns = connect_all(c, n + 1, 0, 4096, None).await?;
            let snd = conns.pop().expect("n + 1 connections");
            (conns, snd)
        }
    };
    let timeout = Duration::from_secs_f64(c.connect_timeout);
    if o.chat {
        chat_setup(&mut conns, &mut snd, timeout).await?;
    } else {
        join_all(&mut conns, timeout).await?;
    }
    let mut tasks = Vec::new();
    for ws in conns {
        tasks.push(tokio::spawn(receiver(ws, sh.clone(), o.chat)));
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
            "chat": o.chat, "pad": o.pad,
            "bytes_per_delivery": sh.bytes.load(Ordering::Relaxed) as f64 / delivered.max(1) as f64,
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
