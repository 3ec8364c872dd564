//! Prometheus metrics: `/metrics` on `serve()` scraped while real WebSocket
//! and polling clients talk to the server, parsed with a Prometheus
//! text-format parser, the values compared with what the clients did.

mod common;

use std::time::Duration;

use common::*;
use prometheus_parse::{Scrape, Value as PValue};
use sockio::{Data, Socket, SocketIo};

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid Prometheus text")
}

/// The value of the sample `name` with `labels` (exactly one must match).
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<_> = s
        .samples
        .iter()
        .filter(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(v)))
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    match &found[0].value {
        PValue::Counter(v) | PValue::Gauge(v) | PValue::Untyped(v) => *v,
        other => panic!("{name}: {other:?}"),
    }
}

async fn scrape(addr: std::net::SocketAddr) -> Scrape {
    let r = get(addr, "/metrics").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        r.header("content-type")
    );
    parse(&r.text())
}

fn server(metrics: bool) -> SocketIo {
    let io = SocketIo::builder()
        .metrics(metrics)
        .ack_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let chat = io.of("/chat");
    chat.on("join", |s: Socket, Data(room): Data<String>| async move {
        s.join(room);
    });
    chat.on("echo", |Data(n): Data<u32>| async move { n });
    // Asks the client for an ack it never sends: one ack times out.
    chat.on("ask", |s: Socket| async move {
        s.emit_with_ack("question", &()).await.is_err()
    });
    io
}

const EVENTS: usize = 20;

#[tokio::test]
async fn scrape_during_traffic_matches_what_the_clients_did() {
    let addr = serve(server(true)).await;

    // One polling connection that joins no namespace.
    let open = get(addr, "/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(open.status, 200);
    // One refused request.
    assert_eq!(
        get(addr, "/socket.io/?EIO=4&transport=carrier-pigeon")
            .await
            .status,
        400
    );

    // Three WebSocket clients on /chat, each in room "lobby".
    let mut clients = Vec::new();
    let (mut bytes_in, mut packets_in) = (0usize, 0usize);
    let (mut bytes_out, mut packets_out) = (0usize, 0usize);
    for _ in 0..3 {
        let mut ws = ws_connect(addr, "EIO=4&transport=websocket").await;
        assert!(ws_recv(&mut ws, true).await.starts_with('0'));
        for text in ["40/chat,", r#"42/chat,["join","lobby"]"#] {
            ws_send(&mut ws, text).await;
            packets_in += 1;
            bytes_in += text.len() - 1;
        }
        let reply = ws_recv(&mut ws, true).await;
        assert!(reply.starts_with("40/chat,"), "{reply}");
        packets_out += 1;
        bytes_out += reply.len() - 1;
        clients.push(ws);
    }

    // Events with acks from every client while the server is scraped.
    let scraper = tokio::spawn(async move {
        for _ in 0..5 {
            let s = scrape(addr).await;
            assert!(value(&s, "sockio_sockets", &[("namespace", "/chat")]) <= 3.0);
        }
    });
    for i in 0..EVENTS {
        for ws in clients.iter_mut() {
            let text = format!(r#"42/chat,{i}["echo",{i}]"#);
            ws_send(ws, &text).await;
            packets_in += 1;
            bytes_in += text.len() - 1;
            let ack = ws_recv(ws, true).await;
            assert_eq!(ack, format!("43/chat,{i}[{i}]"));
            packets_out += 1;
            bytes_out += ack.len() - 1;
        }
    }
    scraper.await.unwrap();

    // One ack that times out.
    let text = r#"42/chat,99["ask"]"#;
    ws_send(&mut clients[0], text).await;
    packets_in += 1;
    bytes_in += text.len() - 1;
    let q = ws_recv(&mut clients[0], true).await;
    assert!(
        q.starts_with(r#"42/chat,"#) && q.contains("question"),
        "{q}"
    );
    let answer = ws_recv(&mut clients[0], true).await;
    assert_eq!(answer, "43/chat,99[true]", "the ack timed out");
    packets_out += 2;
    bytes_out += q.len() - 1 + answer.len() - 1;

    let s = scrape(addr).await;
    assert_eq!(
        value(&s, "sockio_connections", &[("transport", "websocket")]),
        3.0
    );
    assert_eq!(
        value(&s, "sockio_connections", &[("transport", "polling")]),
        1.0
    );
    assert_eq!(value(&s, "sockio_sockets", &[("namespace", "/chat")]), 3.0);
    assert_eq!(value(&s, "sockio_sockets", &[("namespace", "/")]), 0.0);
    assert_eq!(value(&s, "sockio_rooms", &[("namespace", "/chat")]), 1.0);
    assert_eq!(value(&s, "sockio_connections_opened_total", &[]), 4.0);
    assert_eq!(
        value(
            &s,
            "sockio_requests_refused_total",
            &[("reason", "unknown_transport")]
        ),
        1.0
    );
    assert_eq!(value(&s, "sockio_acks_timed_out_total", &[]), 1.0);
    assert_eq!(
        value(&s, "sockio_packets_received_total", &[]),
        packets_in as f64
    );
    assert_eq!(
        value(&s, "sockio_bytes_received_total", &[]),
        bytes_in as f64
    );
    assert_eq!(
        value(&s, "sockio_packets_sent_total", &[]),
        packets_out as f64
    );
    assert_eq!(value(&s, "sockio_bytes_sent_total", &[]), bytes_out as f64);

    // Every event ran a handler: join ×3, echo ×3×EVENTS, ask ×1.
    let handled = 3 + 3 * EVENTS + 1;
    let hist = s
        .samples
        .iter()
        .find(|x| x.metric == "sockio_event_handler_duration_seconds")
        .expect("the latency histogram");
    let PValue::Histogram(buckets) = &hist.value else {
        panic!("{hist:?}")
    };
    let bounds: Vec<f64> = buckets.iter().map(|b| b.less_than).collect();
    assert_eq!(
        bounds,
        [
            0.000_01,
            0.000_05,
            0.000_1,
            0.000_5,
            0.001,
            0.005,
            0.01,
            0.05,
            0.1,
            0.5,
            1.0,
            5.0,
            f64::INFINITY
        ]
    );
    let inf = buckets.iter().find(|b| b.less_than.is_infinite()).unwrap();
    assert_eq!(inf.count, handled as f64);
    assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count));
    assert_eq!(
        value(&s, "sockio_event_handler_duration_seconds_count", &[]),
        handled as f64
    );

    // One client leaves /chat, another one's connection closes.
    ws_send(&mut clients[1], "41/chat,").await;
    drop(clients.pop());
    let mut s;
    let mut tries = 0;
    loop {
        s = scrape(addr).await;
        if value(&s, "sockio_sockets", &[("namespace", "/chat")]) == 1.0 {
            break;
        }
        tries += 1;
        assert!(tries < 200, "the sockets did not leave");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        value(
            &s,
            "sockio_disconnects_total",
            &[("reason", "client namespace disconnect")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "sockio_disconnects_total",
            &[("reason", "transport close")]
        ),
        1.0
    );
    assert_eq!(
        value(&s, "sockio_connections", &[("transport", "websocket")]),
        2.0
    );
}

#[tokio::test]
async fn without_metrics_on_the_scrape_time_series_only() {
    let io = server(false);
    // Not served by serve() unless asked.
    let addr = serve(io.clone()).await;
    assert_eq!(get(addr, "/metrics").await.status, 404);

    let c = sockio::TestClient::builder(&io)
        .namespace("/chat")
        .connect()
        .await
        .unwrap();
    c.emit_in("/chat", "join", "lobby").await.unwrap();
    let ack = c.emit_with_ack_in("/chat", "echo", &7).await.unwrap();
    assert_eq!(ack, vec![sockio::Value::from(7)]);

    let s = parse(&io.metrics().render());
    assert_eq!(value(&s, "sockio_sockets", &[("namespace", "/chat")]), 1.0);
    assert_eq!(value(&s, "sockio_rooms", &[("namespace", "/chat")]), 1.0);
    for per_message in ["sockio_packets_received", "sockio_bytes_sent"] {
        assert!(!s.samples.iter().any(|x| x.metric.starts_with(per_message)));
    }
    assert!(!s
        .samples
        .iter()
        .any(|x| x.metric.starts_with("sockio_event_handler_duration")));

    // Mounted in an axum router of the application's own.
    let app = axum::Router::new()
        .route_service("/internal/metrics", io.metrics())
        .layer(io.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let r = get(addr, "/internal/metrics").await;
    assert_eq!(r.status, 200);
    let s = parse(&r.text());
    assert_eq!(value(&s, "sockio_sockets", &[("namespace", "/chat")]), 1.0);
}
