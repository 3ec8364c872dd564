//! `echo-polling` scenario: the echo scenario over HTTP long-polling (HTTP/1.1
//! keep-alive; one connection for the GET long-poll, one for POSTs; packets joined
//! with the `\x1e` record separator).

use std::io::{self, ErrorKind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::echo::EchoOpts;
use crate::stats::{self, new_hist, record, RunResult, MEASURE};
use crate::ws::{find, parse_u64, push_u64, Target};
use crate::{measure, Common};

/// A keep-alive HTTP/1.1 client connection (just what Engine.IO polling needs).
pub struct Http {
    s: TcpStream,
    buf: Vec<u8>,
    host: String,
}

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, msg.into())
}

impl Http {
    /// Connects to the target.
    pub async fn connect(t: &Target) -> io::Result<Self> {
        Ok(Self {
            s: t.tcp(None).await?,
            buf: Vec::with_capacity(4096),
            host: t.host.clone(),
        })
    }

    async fn fill(&mut self) -> io::Result<()> {
        let mut tmp = [0u8; 8192];
        let n = self.s.read(&mut tmp).await?;
        if n == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(())
    }

    /// Sends one request and returns the response body (status must be 200).
    pub async fn request(&mut self, method: &str, pq: &str, body: &[u8]) -> io::Result<Vec<u8>> {
        let mut req = format!(
            "{method} {pq} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\n",
            self.host
        )
        .into_bytes();
        if method == "POST" {
            req.extend_from_slice(
                format!(
                    "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n",
                    body.len()
                )
                .as_bytes(),
            );
        }
        req.extend_from_slice(b"\r\n");
        req.extend_from_slice(body);
        self.s.write_all(&req).await?;
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end + 4);
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| err("bad HTTP status line"))?;
        let mut clen = None;
        let mut chunked = false;
        for l in head.lines().skip(1) {
            if let Some((k, v)) = l.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                if k == "content-length" {
                    clen = v.parse::<usize>().ok();
                } else if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                    chunked = true;
                }
            }
        }
        let body = if chunked {
            let mut body = Vec::new();
            loop {
                let line_end = loop {
                    if let Some(i) = find(&self.buf, b"\r\n") {
                        break i;
                    }
                    self.fill().await?;
                };
                let size_str = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
                let size =
                    usize::from_str_radix(size_str.split(';').next().unwrap_or("").trim(), 16)
                        .map_err(|_| err("bad chunk size"))?;
                self.buf.drain(..line_end + 2);
                while self.buf.len() < size + 2 {
                    self.fill().await?;
                }
                body.extend_from_slice(&self.buf[..size]);
                self.buf.drain(..size + 2);
                if size == 0 {
                    break;
                }
            }
            body
        } else {
            let n = clen.unwrap_or(0);
            while self.buf.len() < n {
                self.fill().await?;
            }
            self.buf.drain(..n).collect()
        };
        if status != 200 {
            return Err(err(format!(
                "HTTP {status} on {method} {pq}: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        Ok(body)
    }
}

enum Out {
    Echo,
    Pong,
}

struct Shared {
    acks: AtomicU64,
    /// Long-poll GETs and POSTs sent.
    gets: AtomicU64,
    posts: AtomicU64,
    errors: AtomicU64,
    hist: Mutex<Histogram<u64>>,
    base: Instant,
    arg: Vec<u8>,
}

const RING: usize = 4096;

/// Opens a polling session and connects the main namespace; returns (GET conn, POST conn, query).
pub async fn open(t: &Target) -> io::Result<(Http, Http, String)> {
    let mut get = Http::connect(t).await?;
    let mut post = Http::connect(t).await?;
    let body = get
        .request("GET", &format!("{}?EIO=4&transport=polling", t.path), b"")
        .await?;
    let s = String::from_utf8_lossy(&body).into_owned();
    let sid = s
        .split("\"sid\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .ok_or_else(|| err(format!("no sid in open packet: {s}")))?
        .to_string();
    let pq = format!("{}?EIO=4&transport=polling&sid={sid}", t.path);
    post.request("POST", &pq, b"40").await?;
    loop {
        let b = get.request("GET", &pq, b"").await?;
        let mut connected = false;
        for p in b.split(|c| *c == 0x1e) {
            if p.starts_with(b"40") {
                connected = true;
            } else if p.starts_with(b"44") {
                return Err(err(format!(
                    "namespace refused: {}",
                    String::from_utf8_lossy(p)
                )));
            }
        }
        if connected {
            return Ok((get, post, pq));
        }
    }
}

async fn client(t: Target, k: usize, sh: Arc<Shared>) -> io::Result<()> {
    let (mut get, mut post, pq) = open(&t).await?;
    let sent_at: Arc<Vec<AtomicU64>> = Arc::new((0..RING).map(|_| AtomicU64::new(0)).collect());
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    // POST side: batches everything queued into one body.
    let sa = sent_at.clone();
    let sh2 = sh.clone();
    let pq2 = pq.clone();
    let poster = tokio::spawn(async move {
        let mut next: u64 = 0;
        let mut body = Vec::new();
        while let Some(first) = rx.recv().await {
            body.clear();
            let now = sh2.base.elapsed().as_micros() as u64;
            let mut item = Some(first);
            while let Some(o) = item.take().or_else(|| rx.try_recv().ok()) {
                if !body.is_empty() {
                    body.push(0x1e);
                }
                match o {
                    Out::Pong => body.push(b'3'),
                    Out::Echo => {
                        sa[next as usize % RING].store(now, Ordering::Relaxed);
                        body.extend_from_slice(b"42");
                        push_u64(&mut body, next);
                        body.extend_from_slice(&sh2.arg);
                        next += 1;
                    }
                }
            }
            sh2.posts.fetch_add(1, Ordering::Relaxed);
            if post.request("POST", &pq2, &body).await.is_err() {
                if stats::phase() < stats::DRAIN {
                    sh2.errors.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
        }
    });
    for _ in 0..k {
        let _ = tx.send(Out::Echo);
    }
    let mut lat = Vec::new();
    let res = loop {
        if stats::phase() >= stats::DRAIN {
            break Ok(());
        }
        sh.gets.fetch_add(1, Ordering::Relaxed);
        let body = match get.request("GET", &pq, b"").await {
            Ok(b) => b,
            Err(e) => break Err(e),
        };
        let now = sh.base.elapsed().as_micros() as u64;
        let mut acks = 0;
        for p in body.split(|c| *c == 0x1e) {
            if let Some(rest) = p.strip_prefix(b"43") {
                if let Some((id, _)) = parse_u64(rest) {
                    lat.push(
                        now.saturating_sub(sent_at[id as usize % RING].load(Ordering::Relaxed)),
                    );
                    acks += 1;
                    let _ = tx.send(Out::Echo);
                }
            } else if p == b"2" {
                let _ = tx.send(Out::Pong);
            } else if p.first() == Some(&b'1') {
                break;
            }
        }
        sh.acks.fetch_add(acks, Ordering::Relaxed);
        if stats::phase() == MEASURE && !lat.is_empty() {
            let mut h = sh.hist.lock().unwrap();
            for &v in &lat {
                record(&mut h, v);
            }
        }
        lat.clear();
    };
    poster.abort();
    res
}

/// Runs the echo scenario over long-polling.
pub async fn run(c: &Common, o: &EchoOpts) -> Result<RunResult, String> {
    let mut arg = b"[\"echo\",\"".to_vec();
    arg.extend(std::iter::repeat_n(b'x', o.size));
    arg.extend_from_slice(b"\"]");
    let sh = Arc::new(Shared {
        acks: AtomicU64::new(0),
        gets: AtomicU64::new(0),
        posts: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        hist: Mutex::new(new_hist()),
        base: Instant::now(),
        arg,
    });
    // Check that one session can be opened before starting everyone.
    open(&c.target)
        .await
        .map_err(|e| format!("echo-polling: cannot open a polling session: {e}"))?;
    let mut tasks = Vec::new();
    for _ in 0..o.clients {
        let (t, sh) = (c.target.clone(), sh.clone());
        let k = o.inflight;
        tasks.push(tokio::spawn(async move {
            if client(t, k, sh.clone()).await.is_err() && stats::phase() < stats::DRAIN {
                sh.errors.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let s2 = sh.clone();
    let (a, b, n) = measure(c, move || s2.acks.load(Ordering::Relaxed), || false, "acks").await;
    stats::set_phase(stats::DONE);
    for t in tasks {
        t.abort();
    }
    let acks = sh.acks.load(Ordering::Relaxed) as f64;
    let per =
        |n: &AtomicU64| (acks / n.load(Ordering::Relaxed).max(1) as f64 * 100.0).round() / 100.0;
    let mut r = RunResult {
        scenario: "echo-polling".into(),
        // How many acks each request carried (over the whole run): the
        // server's cost per ack is mostly its cost per request over these.
        params: serde_json::json!({"clients": o.clients, "inflight": o.inflight, "size": o.size,
            "acks_per_get": per(&sh.gets), "acks_per_post": per(&sh.posts)}),
        connections: o.clients as u64 * 2,
        errors: sh.errors.load(Ordering::Relaxed),
        ..Default::default()
    };
    r.fill_window(&a, &b, n);
    r.fill_latency(&sh.hist.lock().unwrap());
    Ok(r)
}
