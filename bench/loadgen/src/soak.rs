//! `soak` scenario: many clients in rooms exchange numbered messages for a long
//! time, over WebSocket and long-polling, some leaving and coming back
//! throughout, against the interop example server (`join` and `to-room`
//! events, `/work/shared/INTEROP-SERVER.md`). Checks that no message is lost,
//! duplicated or reordered per sender, and samples the server's RSS.
//!
//! Each client belongs to one room (`r<client % rooms>`). Once its `join` is
//! acknowledged it sends `to-room(room, "m", client, seq)` with an ack, `seq`
//! counting up per client across its reconnections; every member of the room,
//! the sender included, receives `m(client, seq)`.
//!
//! **What must arrive.** A connection's *window* opens when its `join` ack
//! arrives and, on a clean leave, closes when it sends a final `echo` (whose
//! ack it waits for: the server's queue to it is first-in first-out, so every
//! message the server relayed before that echo is read by then). A message
//! must reach every window of its room that opened before the message was
//! sent and closed after its ack came back to the sender. A window that ends
//! otherwise (an abrupt leave: the TCP connection dropped without a goodbye;
//! an error) expects nothing, but what it receives is still checked for
//! duplicates and order. A sender leaves only once its messages are all
//! acknowledged, so its sequence stays ordered across its connections.
//!
//! Everything is bounded: the run lasts `--duration` seconds, then every
//! client leaves (at most 20 s); the report is written in any case.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::time::sleep_until;

use crate::polling::{self, Http};
use crate::probe::{self_cpu, Probe};
use crate::stats::{progress, progress_done, RunResult};
use crate::ws::{parse_u64, push_text_frame, push_u64, Target, WsConn};
use crate::Common;

/// Parameters of the soak scenario (`--duration` is the whole run, `--warmup`
/// the part of it after which the server's RSS should stay flat).
#[derive(Debug, Clone, clap::Args)]
pub struct SoakOpts {
    /// Clients (each holds one connection at a time).
    #[arg(long, default_value_t = 2000)]
    pub clients: usize,
    /// Rooms the clients are spread over.
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Share of clients on HTTP long-polling (the others on WebSocket).
    #[arg(long, default_value_t = 0.25)]
    pub polling_share: f64,
    /// Messages each client sends per second (on average).
    #[arg(long, default_value_t = 0.2)]
    pub rate: f64,
    /// Share of clients that disconnect and reconnect throughout.
    #[arg(long, default_value_t = 0.1)]
    pub reconnect_share: f64,
    /// Mean life of one connection of a reconnecting client, seconds.
    #[arg(long, default_value_t = 20.0)]
    pub lifetime: f64,
    /// Share of leaves that drop the TCP connection without a goodbye.
    #[arg(long, default_value_t = 0.25)]
    pub abrupt_share: f64,
    /// Seconds over which the clients first connect.
    #[arg(long, default_value_t = 10.0)]
    pub ramp: f64,
    /// Seconds between two RSS samples.
    #[arg(long, default_value_t = 1.0)]
    pub sample: f64,
    /// Directory for soak.json, soak.md and soak-rss.svg.
    #[arg(long, default_value = "soak-out")]
    pub out: PathBuf,
    /// Fail when the server's RSS grew by more than this many percent between
    /// the end of the warm-up and the end of the run (0: report only).
    #[arg(long, default_value_t = 0.0)]
    pub max_rss_growth_pct: f64,
    /// Also write the report as the `## Soak` section of this Markdown file
    /// (inserted before `## Log`, or replacing an older one).
    #[arg(long)]
    pub benchmarks: Option<PathBuf>,
    /// With --benchmarks: directory the chart is copied to, as the file links it.
    #[arg(long, default_value = "bench/charts")]
    pub charts: PathBuf,
}

/// A tiny deterministic generator (xorshift64*), seeded per client.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `[a, b)` seconds.
    fn secs(&mut self, a: f64, b: f64) -> Duration {
        Duration::from_secs_f64(a + (b - a) * self.f64())
    }
}

/// One message: when it was sent and when its ack came back (µs since start).
#[derive(Clone, Copy)]
struct Msg {
    sent: u64,
    acked: u64,
}

const NEVER: u64 = u64::MAX;

/// What one connection received from one sender: runs of consecutive seqs.
#[derive(Default)]
struct Recv {
    runs: Vec<(u64, u64)>,
    dup: u64,
    ooo: u64,
}

impl Recv {
    fn contains(&self, seq: u64) -> bool {
        let i = self.runs.partition_point(|r| r.1 < seq);
        self.runs.get(i).is_some_and(|r| r.0 <= seq)
    }
    fn add(&mut self, seq: u64) {
        match self.runs.last_mut() {
            Some(last) if seq == last.1 + 1 => last.1 = seq,
            Some(last) if seq <= last.1 => {
                if self.contains(seq) {
                    self.dup += 1;
                } else {
                    // a late arrival: out of order; keep it counted as received
                    self.ooo += 1;
                    let i = self.runs.partition_point(|r| r.1 < seq);
                    self.runs.insert(i, (seq, seq));
                }
            }
            _ => self.runs.push((seq, seq)),
        }
    }
}

/// One connection of a client, from its `join` (messages may come before
/// the join's ack: they are checked for order, not expected).
struct Window {
    client: u32,
    room: u32,
    /// When the join's ack arrived (`NEVER` before).
    joined: u64,
    /// When the final flush was sent (clean leave); `None`: expects nothing.
    closed: Option<u64>,
    recv: HashMap<u32, Recv>,
}

#[derive(Default)]
struct Counts {
    sessions: u64,
    clean_leaves: u64,
    abrupt_leaves: u64,
    errors: u64,
    error_samples: Vec<String>,
    deliveries: u64,
    sends: u64,
    acks: u64,
    joined_now: i64,
}

struct World {
    base: Instant,
    stop: bool,
    sent: Vec<Vec<Msg>>,
    windows: Vec<Window>,
    n: Counts,
}

impl World {
    fn now(&self) -> u64 {
        self.base.elapsed().as_micros() as u64
    }
    fn error(&mut self, e: String) {
        self.n.errors += 1;
        if self.n.error_samples.len() < 10 {
            let t = self.base.elapsed().as_secs_f64();
            self.n.error_samples.push(format!("{t:.1}s: {e}"));
        }
    }
}

type Shared = Rc<RefCell<World>>;

enum Pend {
    Join,
    Send(u64),
    Flush,
}

/// The Socket.IO side of one connection, independent of the transport.
struct Sess {
    id: u32,
    room: u32,
    world: Shared,
    win: Option<usize>,
    join_acked: bool,
    next_ack: u64,
    pending: HashMap<u64, Pend>,
    unacked: usize,
    flush_sent: Option<u64>,
    flushed: bool,
}

fn io_err(e: impl Into<String>) -> io::Error {
    io::Error::other(e.into())
}

impl Sess {
    fn new(id: u32, room: u32, world: Shared) -> Self {
        Sess {
            id,
            room,
            world,
            win: None,
            join_acked: false,
            next_ack: 1,
            pending: HashMap::new(),
            unacked: 0,
            flush_sent: None,
            flushed: false,
        }
    }

    fn ack_id(&mut self, p: Pend, out: &mut Vec<u8>) {
        out.extend_from_slice(b"42");
        push_u64(out, self.next_ack);
        self.pending.insert(self.next_ack, p);
        self.next_ack += 1;
    }

    fn join(&mut self) -> Vec<u8> {
        {
            let mut w = self.world.borrow_mut();
            w.windows.push(Window {
                client: self.id,
                room: self.room,
                joined: NEVER,
                closed: None,
                recv: HashMap::new(),
            });
            self.win = Some(w.windows.len() - 1);
        }
        let mut p = Vec::with_capacity(32);
        self.ack_id(Pend::Join, &mut p);
        p.extend_from_slice(b"[\"join\",\"r");
        push_u64(&mut p, u64::from(self.room));
        p.extend_from_slice(b"\"]");
        p
    }

    fn send(&mut self) -> Vec<u8> {
        let seq = {
            let mut w = self.world.borrow_mut();
            let now = w.now();
            let log = &mut w.sent[self.id as usize];
            log.push(Msg {
                sent: now,
                acked: NEVER,
            });
            w.n.sends += 1;
            (w.sent[self.id as usize].len() - 1) as u64
        };
        let mut p = Vec::with_capacity(64);
        self.ack_id(Pend::Send(seq), &mut p);
        p.extend_from_slice(b"[\"to-room\",\"r");
        push_u64(&mut p, u64::from(self.room));
        p.extend_from_slice(b"\",\"m\",");
        push_u64(&mut p, u64::from(self.id));
        p.push(b',');
        push_u64(&mut p, seq);
        p.push(b']');
        self.unacked += 1;
        p
    }

    fn flush(&mut self) -> Vec<u8> {
        self.flush_sent = Some(self.world.borrow().now());
        let mut p = Vec::with_capacity(16);
        self.ack_id(Pend::Flush, &mut p);
        p.extend_from_slice(b"[\"echo\"]");
        p
    }

    fn joined(&self) -> bool {
        self.join_acked
    }

    /// Handles one Engine.IO packet; replies (pongs) go to `reply`.
    fn on_packet(&mut self, p: &[u8], reply: &mut Vec<Vec<u8>>) -> io::Result<()> {
        if p == b"2" {
            reply.push(b"3".to_vec());
        } else if let Some(rest) = p.strip_prefix(b"42[\"m\",") {
            let (from, rest) = parse_u64(rest).ok_or_else(|| io_err("bad m sender"))?;
            let (seq, _) =
                parse_u64(rest.get(1..).unwrap_or(b"")).ok_or_else(|| io_err("bad m seq"))?;
            let mut w = self.world.borrow_mut();
            w.n.deliveries += 1;
            let Some(i) = self.win else {
                return Err(io_err("a room message before the join"));
            };
            w.windows[i].recv.entry(from as u32).or_default().add(seq);
        } else if let Some(rest) = p.strip_prefix(b"43") {
            let (id, _) = parse_u64(rest).ok_or_else(|| io_err("bad ack id"))?;
            match self.pending.remove(&id) {
                Some(Pend::Join) => {
                    let mut w = self.world.borrow_mut();
                    let joined = w.now();
                    if let Some(i) = self.win {
                        w.windows[i].joined = joined;
                    }
                    w.n.joined_now += 1;
                    self.join_acked = true;
                }
                Some(Pend::Send(seq)) => {
                    let mut w = self.world.borrow_mut();
                    let now = w.now();
                    w.sent[self.id as usize][seq as usize].acked = now;
                    w.n.acks += 1;
                    self.unacked -= 1;
                }
                Some(Pend::Flush) => self.flushed = true,
                None => return Err(io_err(format!("ack {id} for nothing"))),
            }
        } else if p.starts_with(b"41") || p.first() == Some(&b'1') {
            return Err(io_err("the server closed the connection"));
        } else if p.starts_with(b"44") {
            return Err(io_err(format!(
                "connect error: {}",
                String::from_utf8_lossy(p)
            )));
        }
        Ok(())
    }

    /// Ends the window: closed cleanly at the flush, or expecting nothing.
    fn end(&mut self, clean: bool) {
        let mut w = self.world.borrow_mut();
        if let Some(i) = self.win.take() {
            let clean = clean && self.join_acked;
            w.windows[i].closed = if clean { self.flush_sent } else { None };
            if self.join_acked {
                w.n.joined_now -= 1;
            }
            if clean {
                w.n.clean_leaves += 1;
            } else {
                w.n.abrupt_leaves += 1;
            }
        }
    }
}

/// What the connection loop should do next.
enum Step {
    /// Keep going; send a message when the timer fires.
    Run,
    /// Send the final flush (all sends acknowledged).
    Flush,
    /// Leave now (after the flush ack, or abruptly).
    Leave,
    /// Waiting for acks while leaving.
    Wait,
}

struct Plan {
    life_end: Option<Instant>,
    abrupt: bool,
    leaving_since: Option<Instant>,
}

impl Plan {
    fn step(&mut self, s: &Sess) -> io::Result<Step> {
        let now = Instant::now();
        let stop = s.world.borrow().stop || self.life_end.is_some_and(|e| now >= e);
        if !stop {
            return Ok(Step::Run);
        }
        let since = *self.leaving_since.get_or_insert(now);
        if now.duration_since(since) > Duration::from_secs(15) {
            return Err(io_err("leaving took longer than 15 s (acks missing)"));
        }
        if !s.joined() {
            return Ok(Step::Leave);
        }
        if s.unacked > 0 {
            return Ok(Step::Wait);
        }
        if self.abrupt || s.flushed {
            return Ok(Step::Leave);
        }
        Ok(if s.flush_sent.is_none() {
            Step::Flush
        } else {
            Step::Wait
        })
    }
}

fn interval(rng: &mut Rng, rate: f64) -> Duration {
    rng.secs(0.5 / rate, 1.5 / rate)
}

async fn ws_session(
    t: &Target,
    s: &mut Sess,
    plan: &mut Plan,
    rng: &mut Rng,
    rate: f64,
) -> io::Result<()> {
    let mut ws = WsConn::open_session(t, None, 4096).await?;
    s.world.borrow_mut().n.sessions += 1;
    let j = s.join();
    push_text_frame(&mut ws.out, &[&j]);
    ws.flush().await?;
    let mut next_send = tokio::time::Instant::now() + interval(rng, rate);
    let tick = Duration::from_millis(100);
    let mut replies = Vec::new();
    loop {
        match plan.step(s)? {
            Step::Run | Step::Wait => {}
            Step::Flush => {
                let f = s.flush();
                push_text_frame(&mut ws.out, &[&f]);
            }
            Step::Leave => {
                if plan.abrupt {
                    s.end(false);
                    return Ok(()); // dropped without a word
                }
                s.end(true);
                push_text_frame(&mut ws.out, &[b"41"]);
                let _ = ws.flush().await;
                return Ok(());
            }
        }
        ws.flush().await?;
        let sending = plan.leaving_since.is_none() && s.joined();
        let wake = if sending {
            next_send
        } else {
            tokio::time::Instant::now() + tick
        };
        tokio::select! {
            r = ws.read_more() => {
                r?;
                let mut bad = None;
                ws.drain(|m, _| {
                    if bad.is_none() {
                        if let Err(e) = s.on_packet(m, &mut replies) {
                            bad = Some(e);
                        }
                    }
                })?;
                for r in replies.drain(..) {
                    push_text_frame(&mut ws.out, &[&r]);
                }
                if let Some(e) = bad {
                    return Err(e);
                }
            }
            _ = sleep_until(wake) => {
                if sending {
                    let m = s.send();
                    push_text_frame(&mut ws.out, &[&m]);
                    next_send += interval(rng, rate);
                }
            }
        }
    }
}

async fn poll_get(mut h: Http, pq: String) -> (Http, io::Result<Vec<u8>>) {
    let r = h.request("GET", &pq, b"").await;
    (h, r)
}

async fn polling_session(
    t: &Target,
    s: &mut Sess,
    plan: &mut Plan,
    rng: &mut Rng,
    rate: f64,
) -> io::Result<()> {
    let (get, mut post, pq) = polling::open(t).await?;
    s.world.borrow_mut().n.sessions += 1;
    let j = s.join();
    post.request("POST", &pq, &j).await?;
    let mut getf = Box::pin(poll_get(get, pq.clone()));
    let mut next_send = tokio::time::Instant::now() + interval(rng, rate);
    let tick = Duration::from_millis(100);
    let mut body: Vec<u8> = Vec::new();
    let mut replies = Vec::new();
    let add = |body: &mut Vec<u8>, p: &[u8]| {
        if !body.is_empty() {
            body.push(0x1e);
        }
        body.extend_from_slice(p);
    };
    loop {
        match plan.step(s)? {
            Step::Run | Step::Wait => {}
            Step::Flush => {
                let f = s.flush();
                add(&mut body, &f);
            }
            Step::Leave => {
                if plan.abrupt {
                    s.end(false);
                    return Ok(());
                }
                s.end(true);
                add(&mut body, b"41");
                add(&mut body, b"1");
                let _ = post.request("POST", &pq, &body).await;
                return Ok(());
            }
        }
        if !body.is_empty() {
            post.request("POST", &pq, &body).await?;
            body.clear();
        }
        let sending = plan.leaving_since.is_none() && s.joined();
        let wake = if sending {
            next_send
        } else {
            tokio::time::Instant::now() + tick
        };
        tokio::select! {
            (g, r) = &mut getf => {
                let payload = r?;
                for p in payload.split(|&b| b == 0x1e) {
                    s.on_packet(p, &mut replies)?;
                }
                for r in replies.drain(..) {
                    add(&mut body, &r);
                }
                getf = Box::pin(poll_get(g, pq.clone()));
            }
            _ = sleep_until(wake) => {
                if sending {
                    let m = s.send();
                    add(&mut body, &m);
                    next_send += interval(rng, rate);
                }
            }
        }
    }
}

/// One client: sessions one after another until the run stops.
async fn client(world: Shared, t: Target, id: u32, o: Rc<SoakOpts>, start: Duration) {
    let mut rng = Rng::new(u64::from(id) + 1);
    let polling = rng.f64() < o.polling_share;
    let reconnecting = rng.f64() < o.reconnect_share;
    let room = id % o.rooms.max(1) as u32;
    tokio::time::sleep(start).await;
    while !world.borrow().stop {
        let mut plan = Plan {
            life_end: reconnecting
                .then(|| Instant::now() + rng.secs(0.5 * o.lifetime, 1.5 * o.lifetime)),
            abrupt: reconnecting && rng.f64() < o.abrupt_share,
            leaving_since: None,
        };
        let mut s = Sess::new(id, room, world.clone());
        let r = if polling {
            polling_session(&t, &mut s, &mut plan, &mut rng, o.rate).await
        } else {
            ws_session(&t, &mut s, &mut plan, &mut rng, o.rate).await
        };
        if let Err(e) = r {
            s.end(false);
            {
                let mut w = world.borrow_mut();
                if !w.stop || plan.leaving_since.is_some() {
                    let kind = if polling { "polling" } else { "websocket" };
                    w.error(format!("client {id} ({kind}): {e}"));
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        } else if reconnecting {
            tokio::time::sleep(rng.secs(0.2, 1.0)).await;
        }
    }
}

/// One RSS sample.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Sample {
    t: f64,
    rss_kib: u64,
    connected: i64,
    deliveries: u64,
}

/// The verdict on the deliveries.
#[derive(Debug, Default, serde::Serialize)]
struct Verdict {
    expected: u64,
    lost: u64,
    duplicated: u64,
    out_of_order: u64,
    lost_samples: Vec<String>,
}

fn judge(w: &World, rooms: usize) -> Verdict {
    let mut v = Verdict::default();
    let n = w.sent.len();
    for win in &w.windows {
        for r in win.recv.values() {
            v.duplicated += r.dup;
            v.out_of_order += r.ooo;
        }
        let Some(closed) = win.closed else { continue };
        // every sender of the room (the window's own client too)
        let mut s = win.room as usize;
        while s < n {
            let recv = win.recv.get(&(s as u32));
            for (seq, m) in w.sent[s].iter().enumerate() {
                if m.sent > win.joined && m.acked != NEVER && m.acked < closed {
                    v.expected += 1;
                    if !recv.is_some_and(|r| r.contains(seq as u64)) {
                        v.lost += 1;
                        if v.lost_samples.len() < 10 {
                            v.lost_samples.push(format!(
                                "client {s} seq {seq} (sent {:.3}s, acked {:.3}s) missing at client {} (window {:.3}s..{:.3}s)",
                                m.sent as f64 / 1e6,
                                m.acked as f64 / 1e6,
                                win.client,
                                win.joined as f64 / 1e6,
                                closed as f64 / 1e6
                            ));
                        }
                    }
                }
            }
            s += rooms.max(1);
        }
    }
    v
}

/// Least-squares slope of RSS over time, KiB per minute.
fn slope_kib_per_min(s: &[Sample]) -> Option<f64> {
    if s.len() < 3 {
        return None;
    }
    let n = s.len() as f64;
    let mt = s.iter().map(|x| x.t).sum::<f64>() / n;
    let mr = s.iter().map(|x| x.rss_kib as f64).sum::<f64>() / n;
    let num: f64 = s.iter().map(|x| (x.t - mt) * (x.rss_kib as f64 - mr)).sum();
    let den: f64 = s.iter().map(|x| (x.t - mt).powi(2)).sum();
    (den > 0.0).then(|| num / den * 60.0)
}

/// The RSS-over-time chart (SVG, plotters).
fn rss_chart(samples: &[Sample], warmup: f64, title: &str) -> String {
    use plotters::prelude::*;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 360)).into_drawing_area();
        let tmax = samples.last().map_or(1.0, |s| s.t).max(1.0);
        let mib = |k: u64| k as f64 / 1024.0;
        let ymax = samples.iter().map(|s| mib(s.rss_kib)).fold(1.0, f64::max) * 1.15;
        let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 15))
                .margin(12)
                .x_label_area_size(32)
                .y_label_area_size(56)
                .build_cartesian_2d(0f64..tmax, 0f64..ymax)?;
            chart
                .configure_mesh()
                .x_desc("seconds")
                .y_desc("server RSS (MiB)")
                .label_style(("sans-serif", 12))
                .draw()?;
            let color = RGBColor(0xd9, 0x48, 0x0f);
            chart.draw_series(std::iter::once(PathElement::new(
                samples
                    .iter()
                    .map(|s| (s.t, mib(s.rss_kib)))
                    .collect::<Vec<_>>(),
                color.stroke_width(2),
            )))?;
            let grey = RGBColor(0x88, 0x88, 0x88);
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(warmup, 0.0), (warmup, ymax)],
                grey.stroke_width(1),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                "end of warm-up",
                (warmup + tmax * 0.01, ymax * 0.95),
                ("sans-serif", 12),
            )))?;
            root.present()?;
            Ok(())
        };
        if let Err(e) = draw() {
            eprintln!("soak chart: {e}");
        }
    }
    svg
}

fn at(samples: &[Sample], t: f64) -> Option<Sample> {
    samples.iter().find(|s| s.t >= t).copied()
}

/// Runs the soak; writes the report into `--out` whatever the verdict.
pub async fn run(c: &Common, o: &SoakOpts, probe: Option<&Probe>) -> Result<RunResult, String> {
    let limit = crate::raise_nofile() as usize;
    // a polling client holds two connections
    if o.clients * 2 + 256 > limit {
        return Err(format!(
            "{} clients need up to {} open files; the limit is {limit} (ulimit -n)",
            o.clients,
            o.clients * 2 + 256
        ));
    }
    if !(o.rate > 0.0 && o.rate <= 50.0) {
        return Err("--rate must be in (0, 50] messages per client per second".into());
    }
    let n = o.clients.clamp(1, 50_000);
    let world: Shared = Rc::new(RefCell::new(World {
        base: Instant::now(),
        stop: false,
        sent: vec![Vec::new(); n],
        windows: Vec::new(),
        n: Counts::default(),
    }));
    let opts = Rc::new(o.clone());
    let local = tokio::task::LocalSet::new();
    let cpu0 = self_cpu();
    let server_cpu0 = probe.and_then(Probe::cpu_s);
    let samples = local
        .run_until(async {
            let ramp = o.ramp.clamp(0.0, c.duration / 2.0);
            let mut tasks = Vec::with_capacity(n);
            for i in 0..n {
                let start = Duration::from_secs_f64(ramp * i as f64 / n as f64);
                tasks.push(tokio::task::spawn_local(client(
                    world.clone(),
                    c.target.clone(),
                    i as u32,
                    opts.clone(),
                    start,
                )));
            }
            let mut samples: Vec<Sample> = Vec::new();
            let period = Duration::from_secs_f64(o.sample.clamp(0.1, 60.0));
            let t0 = Instant::now();
            let mut next = tokio::time::Instant::now();
            loop {
                let t = t0.elapsed().as_secs_f64();
                let (connected, deliveries, errors) = {
                    let w = world.borrow();
                    (w.n.joined_now, w.n.deliveries, w.n.errors)
                };
                let rss = probe.and_then(Probe::rss_kib).unwrap_or(0);
                samples.push(Sample {
                    t,
                    rss_kib: rss,
                    connected,
                    deliveries,
                });
                progress(&format!(
                    "soak {t:.0}/{:.0}s: {connected} in rooms, {deliveries} deliveries, {errors} errors, server RSS {:.1} MiB",
                    c.duration,
                    rss as f64 / 1024.0
                ));
                if t >= c.duration {
                    break;
                }
                next += period;
                sleep_until(next).await;
            }
            progress_done();
            world.borrow_mut().stop = true;
            // everyone leaves (bounded)
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            for t in &mut tasks {
                if tokio::time::timeout_at(deadline, &mut *t).await.is_err() {
                    break;
                }
            }
            let mut stuck = 0;
            for t in tasks {
                if !t.is_finished() {
                    stuck += 1;
                    t.abort();
                }
            }
            if stuck > 0 {
                world
                    .borrow_mut()
                    .error(format!("{stuck} clients did not leave within 20 s"));
            }
            samples
        })
        .await;
    let wall = world.borrow().base.elapsed().as_secs_f64();
    let gen_cpu = (self_cpu() - cpu0).as_secs_f64();
    let server_cpu = match (server_cpu0, probe.and_then(Probe::cpu_s)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let w = world.borrow();
    let verdict = judge(&w, o.rooms);
    let ramp = o.ramp.clamp(0.0, c.duration / 2.0);
    let first = samples.first().copied();
    let after_ramp = at(&samples, ramp + 1.0);
    let after_warmup = at(&samples, c.warmup);
    let end = samples.last().copied();
    let after: Vec<Sample> = samples
        .iter()
        .filter(|s| s.t >= c.warmup)
        .copied()
        .collect();
    let max_after = after.iter().map(|s| s.rss_kib).max();
    let slope = slope_kib_per_min(&after);
    let growth_pct = match (after_warmup, end) {
        (Some(a), Some(b)) if a.rss_kib > 0 => {
            Some((b.rss_kib as f64 - a.rss_kib as f64) * 100.0 / a.rss_kib as f64)
        }
        _ => None,
    };
    let rss_ok =
        o.max_rss_growth_pct <= 0.0 || growth_pct.is_none_or(|g| g <= o.max_rss_growth_pct);
    let pass = verdict.lost == 0
        && verdict.duplicated == 0
        && verdict.out_of_order == 0
        && w.n.errors == 0
        && rss_ok;
    let mib = |s: Option<Sample>| {
        s.map_or("–".to_string(), |s| {
            format!("{:.1}", s.rss_kib as f64 / 1024.0)
        })
    };
    let polling_clients = (0..n)
        .filter(|&i| Rng::new(i as u64 + 1).f64() < o.polling_share)
        .count();
    let figures = serde_json::json!({
        "clients": n, "polling_clients": polling_clients, "rooms": o.rooms, "rate_per_client": o.rate,
        "reconnect_share": o.reconnect_share, "lifetime_s": o.lifetime, "abrupt_share": o.abrupt_share,
        "duration_s": c.duration, "warmup_s": c.warmup, "wall_s": wall,
        "sessions": w.n.sessions, "clean_leaves": w.n.clean_leaves, "abrupt_leaves": w.n.abrupt_leaves,
        "sends": w.n.sends, "acks": w.n.acks, "deliveries": w.n.deliveries,
        "expected_deliveries": verdict.expected, "lost": verdict.lost,
        "duplicated": verdict.duplicated, "out_of_order": verdict.out_of_order,
        "errors": w.n.errors, "error_samples": w.n.error_samples, "lost_samples": verdict.lost_samples,
        "rss_kib": {
            "before_clients": first.map(|s| s.rss_kib), "all_connected": after_ramp.map(|s| s.rss_kib),
            "after_warmup": after_warmup.map(|s| s.rss_kib), "end": end.map(|s| s.rss_kib),
            "max_after_warmup": max_after,
        },
        "rss_growth_after_warmup_pct": growth_pct, "rss_slope_after_warmup_kib_per_min": slope,
        "server_cpu_s": server_cpu, "gen_cpu_s": gen_cpu, "pass": pass,
        "samples": samples,
    });
    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    let write = |name: &str, data: &str| {
        std::fs::write(o.out.join(name), data).map_err(|e| format!("{name}: {e}"))
    };
    write(
        "soak.json",
        &serde_json::to_string_pretty(&figures).map_err(|e| e.to_string())?,
    )?;
    let title = format!(
        "sockio interop server RSS: {n} clients, {:.0} s ({} lost, {} duplicated, {} out of order)",
        c.duration, verdict.lost, verdict.duplicated, verdict.out_of_order
    );
    write("soak-rss.svg", &rss_chart(&samples, c.warmup, &title))?;
    let f2 = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.1}"));
    let md = format!(
        "## Soak\n\n\
         `bench/soak.sh` ({:.0} s): {n} clients ({} on long-polling, the rest on WebSocket) in {} rooms \
         of the interop example server, each sending {} numbered messages per second to its room \
         (`to-room`, acknowledged) and receiving its room's; {:.0}% of the clients leave and come back \
         throughout (a connection lives {:.0} s on average; {:.0}% of leaves drop the TCP connection \
         without a goodbye). Server and generator pinned to different cores.\n\n\
         | figure | value |\n| --- | --- |\n\
         | connections opened | {} ({} clean leaves, {} abrupt) |\n\
         | messages sent / acknowledged | {} / {} |\n\
         | deliveries received | {} |\n\
         | deliveries that had to arrive (receiver in the room for the message's whole span) | {} |\n\
         | **lost** | **{}** |\n\
         | **duplicated** | **{}** |\n\
         | **out of order (per sender)** | **{}** |\n\
         | errors (failed or dropped connections) | {} |\n\
         | server RSS before the clients (MiB) | {} |\n\
         | server RSS all connected (MiB) | {} |\n\
         | server RSS after the {:.0} s warm-up (MiB) | {} |\n\
         | server RSS at the end (MiB) | {} |\n\
         | highest RSS after warm-up (MiB) | {} |\n\
         | RSS change after warm-up | {} % ({} KiB/min fitted) |\n\
         | server CPU (s, of {:.0} s) | {} |\n\n\
         ![server RSS over the soak]({{CHARTS}}/soak-rss.svg)\n\n",
        c.duration,
        polling_clients,
        o.rooms,
        o.rate,
        o.reconnect_share * 100.0,
        o.lifetime,
        o.abrupt_share * 100.0,
        w.n.sessions,
        w.n.clean_leaves,
        w.n.abrupt_leaves,
        w.n.sends,
        w.n.acks,
        w.n.deliveries,
        verdict.expected,
        verdict.lost,
        verdict.duplicated,
        verdict.out_of_order,
        w.n.errors,
        mib(first),
        mib(after_ramp),
        c.warmup,
        mib(after_warmup),
        mib(end),
        max_after.map_or("–".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
        f2(growth_pct),
        f2(slope),
        wall,
        f2(server_cpu),
    );
    write("soak.md", &md.replace("{CHARTS}", "."))?;
    if let Some(bench) = &o.benchmarks {
        std::fs::create_dir_all(&o.charts).map_err(|e| format!("{}: {e}", o.charts.display()))?;
        std::fs::copy(o.out.join("soak-rss.svg"), o.charts.join("soak-rss.svg"))
            .map_err(|e| format!("copy chart: {e}"))?;
        let link = o.charts.to_string_lossy().trim_end_matches('/').to_string();
        let section = md.replace("{CHARTS}", &link);
        let old = std::fs::read_to_string(bench).unwrap_or_default();
        std::fs::write(bench, splice_section(&old, &section))
            .map_err(|e| format!("{}: {e}", bench.display()))?;
    }
    let mut r = RunResult {
        scenario: "soak".into(),
        params: figures,
        window_s: wall,
        messages: w.n.deliveries,
        rate_per_s: w.n.deliveries as f64 / wall.max(1e-9),
        server_cpu_s: server_cpu,
        server_cpu_util: server_cpu.map(|s| s / wall.max(1e-9)),
        gen_cpu_util: gen_cpu / wall.max(1e-9),
        lost: Some(verdict.lost),
        errors: w.n.errors,
        connections: w.n.sessions,
        rss_before_kib: first.map(|s| s.rss_kib),
        rss_after_kib: end.map(|s| s.rss_kib),
        ..Default::default()
    };
    r.note = format!(
        "duplicated {}, out of order {}, expected {}; RSS MiB start {} / after warm-up {} / end {}; report in {}",
        verdict.duplicated,
        verdict.out_of_order,
        verdict.expected,
        mib(after_ramp),
        mib(after_warmup),
        mib(end),
        o.out.display()
    );
    if pass {
        Ok(r)
    } else {
        Err(format!("soak failed: {}", r.human()))
    }
}

/// Puts `section` (starting `## Soak`) in place of an older `## Soak` section,
/// else before `## Log`, else at the end.
fn splice_section(old: &str, section: &str) -> String {
    if let Some(i) = old.find("\n## Soak\n") {
        let rest = &old[i + 1..];
        let end = rest[3..]
            .find("\n## ")
            .map_or(old.len(), |j| i + 1 + 3 + j + 1);
        return format!("{}{}{}", &old[..i + 1], section, &old[end..]);
    }
    if let Some(i) = old.find("\n## Log") {
        return format!("{}{}{}", &old[..i + 1], section, &old[i + 1..]);
    }
    let sep = if old.is_empty() || old.ends_with("\n\n") {
        ""
    } else {
        "\n"
    };
    format!("{old}{sep}{section}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_count_duplicates_and_late_arrivals() {
        let mut r = Recv::default();
        for s in [0, 1, 2, 2, 5, 3, 6, 0] {
            r.add(s);
        }
        assert_eq!(r.dup, 2); // the second 2, the second 0
        assert_eq!(r.ooo, 1); // 3 after 5
        assert!(r.contains(3) && r.contains(6) && !r.contains(4));
    }

    #[test]
    fn a_message_missing_inside_a_window_is_lost_outside_it_is_not() {
        // 2 clients in room 0 (rooms = 1); client 0 sent seq 0..4 at 10, 20, ..
        // acked 5 µs later; client 1's window: joined 15, closed (flush) at 42.
        let msg = |sent| Msg {
            sent,
            acked: sent + 5,
        };
        let mut recv = HashMap::new();
        let mut r = Recv::default();
        r.add(1); // seq 1 (sent 20) arrived; seq 2 (sent 30, acked 35) did not
        r.add(3); // seq 3: sent 40 but acked 45, after the window closed
        recv.insert(0u32, r);
        let w = World {
            base: Instant::now(),
            stop: true,
            sent: vec![(1..=5).map(|i| msg(i * 10)).collect(), Vec::new()],
            windows: vec![Window {
                client: 1,
                room: 0,
                joined: 15,
                closed: Some(42),
                recv,
            }],
            n: Counts::default(),
        };
        let v = judge(&w, 1);
        assert_eq!((v.expected, v.lost), (2, 1), "{:?}", v.lost_samples);
        assert_eq!(v.out_of_order, 0);
        // an abrupt window (closed None) expects nothing
        let mut w = w;
        w.windows[0].closed = None;
        assert_eq!(judge(&w, 1).lost, 0);
    }

    #[test]
    fn soak_section_is_spliced_before_the_log_and_replaced() {
        let md = "# B\n\n## echo\n\nx\n\n## Log\n\nl\n";
        let once = splice_section(md, "## Soak\n\nA\n\n");
        assert_eq!(once, "# B\n\n## echo\n\nx\n\n## Soak\n\nA\n\n## Log\n\nl\n");
        let twice = splice_section(&once, "## Soak\n\nB\n\n");
        assert_eq!(
            twice,
            "# B\n\n## echo\n\nx\n\n## Soak\n\nB\n\n## Log\n\nl\n"
        );
    }
}
