//! `sockio_engine::serve` and `Server`: several listeners, the peer address,
//! dual stack, graceful shutdown on a signal.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use sockio_engine::{DisconnectReason, Engine, EngineHandler, Message, Socket};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Records the peer address of every message's session.
#[derive(Default)]
struct Peers {
    seen: std::sync::Mutex<Vec<Option<SocketAddr>>>,
    closes: std::sync::Mutex<Vec<DisconnectReason>>,
}

impl EngineHandler for Peers {
    type Data = ();
    // on_open left to its default.
    fn on_message(&self, s: &Arc<Socket<()>>, msg: Message) {
        self.seen.lock().unwrap().push(s.remote_addr());
        let _ = s.send(msg);
    }
    fn on_close(&self, _: &Arc<Socket<()>>, reason: DisconnectReason) {
        self.closes.lock().unwrap().push(reason);
    }
}

#[tokio::test]
async fn serve_listens_everywhere_and_shuts_down_gracefully() {
    let engine = Engine::new(
        conformance()
            .ping_interval(Duration::from_secs(30))
            .build()
            .unwrap(),
        Peers::default(),
    );
    let l1 = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let l2 = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (a1, a2) = (l1.local_addr().unwrap(), l2.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        sockio_engine::Server::new()
            .listener(l1)
            .listener(l2)
            .shutdown_signal(async {
                let _ = stopped.await;
            })
            .run(engine.service(), {
                let engine = engine.clone();
                move || async move { engine.close_all(DisconnectReason::ServerShutdown).await }
            }),
    );
    // Both listeners serve the same engine; the peer address is recorded.
    let sid = handshake(a1).await;
    assert_eq!(
        post(a2, &poll_path(&sid), b"4via second").await.text(),
        "ok"
    );
    assert_eq!(get(a1, &poll_path(&sid)).await.text(), "4via second");
    let mut ws = ws_connect(a2, "EIO=4&transport=websocket").await;
    ws_text(&mut ws).await;
    ws_send(&mut ws, "4ws").await;
    assert_eq!(ws_text(&mut ws).await, "4ws");
    let seen = engine.handler().seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|a| a.is_some_and(|a| a.ip() == a1.ip())));
    // Other paths: 404.
    assert_eq!(get(a1, "/elsewhere").await.status, 404);

    // A GET pending at shutdown collects the close packet.
    let pending = tokio::spawn({
        let p = poll_path(&sid);
        async move { http(a1, "GET", &p, &[("x-req", "last")], b"").await }
    });
    let socket = engine
        .get(sockio_engine::Sid::parse(&sid).unwrap())
        .unwrap();
    wait_until(Duration::from_secs(3), "the GET is pending", || {
        socket.current_request().headers.get("x-req").is_some()
    })
    .await;
    stop.send(()).unwrap();
    let r = pending.await.unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "1"));
    assert_eq!(ws_next(&mut ws).await, None);
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server returns after the shutdown")
        .unwrap()
        .unwrap();
    assert_eq!(
        *engine.handler().closes.lock().unwrap(),
        vec![DisconnectReason::ServerShutdown; 2]
    );
    assert_eq!(engine.session_count(), 0);
    // Not listening any more.
    assert!(tokio::net::TcpStream::connect(a1).await.is_err());
    assert!(tokio::net::TcpStream::connect(a2).await.is_err());
}

#[tokio::test]
async fn serve_helper_binds_an_address_and_stops_on_its_signal() {
    // Find a free port, then let `serve` bind it by address.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let engine = Engine::new(conformance().build().unwrap(), Peers::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        sockio_engine::serve(engine.clone(), ("127.0.0.1", port))
            .shutdown_signal(async {
                let _ = stopped.await;
            })
            .into_future(),
    );
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut sid = None;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            sid = Some(handshake(addr).await);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sid = sid.expect("serve listens");
    assert_eq!(engine.session_count(), 1);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        *engine.handler().closes.lock().unwrap(),
        vec![DisconnectReason::ServerShutdown]
    );
    let _ = sid;
}

#[tokio::test]
async fn dual_stack_accepts_ipv4_and_ipv6() {
    // Probe for IPv6 loopback first: some CI machines have none.
    let v6 = TcpListener::bind("[::1]:0").await.is_ok();
    let engine = Engine::new(conformance().build().unwrap(), Peers::default());
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        sockio_engine::Server::new()
            .dual_stack(port)
            .shutdown_signal(async {
                let _ = stopped.await;
            })
            .run(engine.service(), || async {}),
    );
    let v4: SocketAddr = ([127, 0, 0, 1], port).into();
    wait_for_port(v4).await;
    let sid = handshake(v4).await;
    assert_eq!(post(v4, &poll_path(&sid), b"4v4").await.text(), "ok");
    // The peer of an IPv4 client is plain IPv4, even on an IPv6 socket.
    assert_eq!(
        engine.handler().seen.lock().unwrap()[0].map(|a| a.ip()),
        Some(std::net::IpAddr::from([127, 0, 0, 1]))
    );
    if v6 {
        let a6: SocketAddr = (std::net::Ipv6Addr::LOCALHOST, port).into();
        let sid = handshake(a6).await;
        assert_eq!(post(a6, &poll_path(&sid), b"4v6").await.text(), "ok");
        assert!(engine.handler().seen.lock().unwrap()[1].is_some_and(|a| a.is_ipv6()));
    }
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

async fn wait_for_port(addr: SocketAddr) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("nothing listens on {addr}");
}

#[tokio::test]
async fn binding_a_busy_address_is_an_error() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let engine = Engine::new(conformance().build().unwrap(), Peers::default());
    let err = sockio_engine::serve(engine, addr)
        .shutdown_signal(std::future::pending())
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    let err = sockio_engine::Server::new()
        .run(sockio_engine::NotFound, || async {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no address"), "{err}");
}

#[tokio::test]
async fn a_hand_written_accept_loop_still_works() {
    let s = start_with_hyper(conformance()).await;
    let sid = handshake(s.addr).await;
    assert_eq!(post(s.addr, &poll_path(&sid), b"4x").await.text(), "ok");
    let socket = s
        .engine
        .get(sockio_engine::Sid::parse(&sid).unwrap())
        .unwrap();
    assert_eq!(socket.remote_addr().unwrap().ip(), s.addr.ip());
}

use std::future::IntoFuture;
