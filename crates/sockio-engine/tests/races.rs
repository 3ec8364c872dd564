//! The two interleavings of issue 18, each forced in both orders (one request
//! is held until the other is known to be handled), v4 and v3: the answer
//! must not depend on the order.
//!
//! "Known to be handled": a GET is in the engine's hands once the session's
//! current request carries its marker header; a POST once it is answered;
//! the upgrade's `5` once the session's transport is WebSocket.

mod common;

use std::time::Duration;

use common::*;
use sockio_engine::{DisconnectReason, Sid, TransportKind};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Eio {
    V3,
    V4,
}

impl Eio {
    /// A hold long enough that the `5` sent "at once" always arrives within
    /// it, even on a loaded machine (the default is 200 ms).
    fn builder(self) -> sockio_engine::EngineConfigBuilder {
        conformance()
            .allow_eio3(self == Eio::V3)
            .upgrade_hold(Duration::from_secs(5))
    }
    async fn handshake(self, addr: std::net::SocketAddr) -> String {
        match self {
            Eio::V4 => handshake(addr).await,
            Eio::V3 => {
                let r = get(addr, "/engine.io/?EIO=3&transport=polling&b64=1").await;
                assert_eq!(r.status, 200);
                sid_of(&r.text())
            }
        }
    }
    fn poll(self, sid: &str) -> String {
        match self {
            Eio::V4 => poll_path(sid),
            Eio::V3 => format!("/engine.io/?EIO=3&transport=polling&sid={sid}&b64=1"),
        }
    }
    fn ws(self, sid: &str) -> String {
        match self {
            Eio::V4 => format!("EIO=4&transport=websocket&sid={sid}"),
            Eio::V3 => format!("EIO=3&transport=websocket&sid={sid}"),
        }
    }
    /// A payload of one packet, as the protocol frames it.
    fn payload(self, packet: &str) -> String {
        match self {
            Eio::V4 => packet.to_owned(),
            Eio::V3 => format!(
                "{}:{packet}",
                packet.chars().map(char::len_utf16).sum::<usize>()
            ),
        }
    }
}

fn spawn_get(
    addr: std::net::SocketAddr,
    path: String,
    marker: &'static str,
) -> tokio::task::JoinHandle<Resp> {
    tokio::spawn(async move { http(addr, "GET", &path, &[("x-req", marker)], b"").await })
}

const BAD_REQUEST: &str = r#"{"code":3,"message":"Bad request"}"#;

// ---- 1. A client's close over polling racing its own GET -------------------

async fn close_get_first(eio: Eio) {
    let s = start(eio.builder()).await;
    let sid = eio.handshake(s.addr).await;
    let held = spawn_get(s.addr, eio.poll(&sid), "get");
    wait_current_request(&s, &sid, "x-req", "get").await;
    let r = post(s.addr, &eio.poll(&sid), eio.payload("1").as_bytes()).await;
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    let r = held.await.unwrap();
    assert_eq!((r.status, r.text()), (200, eio.payload("6")));
    assert_eq!(
        s.wait_closes(1).await,
        vec![DisconnectReason::TransportClose]
    );
}

async fn close_post_first(eio: Eio) {
    let s = start(eio.builder()).await;
    let sid = eio.handshake(s.addr).await;
    let r = post(s.addr, &eio.poll(&sid), eio.payload("1").as_bytes()).await;
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    // The close is handled (answered, on_close ran); the GET comes after.
    assert_eq!(
        s.wait_closes(1).await,
        vec![DisconnectReason::TransportClose]
    );
    let r = http(s.addr, "GET", &eio.poll(&sid), &[("x-req", "late")], b"").await;
    assert_eq!((r.status, r.text()), (200, eio.payload("6")));
    // Each GET within the grace gets the same answer.
    let r = get(s.addr, &eio.poll(&sid)).await;
    assert_eq!((r.status, r.text()), (200, eio.payload("6")));
    assert_eq!(s.engine.session_count(), 0);
    // Then the sid is forgotten.
    wait_until(Duration::from_secs(3), "the sid is forgotten", || {
        s.engine.table_len() == 0
    })
    .await;
    let r = get(s.addr, &eio.poll(&sid)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), r#"{"code":1,"message":"Session ID unknown"}"#);
}

#[tokio::test]
async fn v4_close_over_polling_get_handled_first() {
    close_get_first(Eio::V4).await;
}

#[tokio::test]
async fn v4_close_over_polling_post_handled_first() {
    close_post_first(Eio::V4).await;
}

#[tokio::test]
async fn v3_close_over_polling_get_handled_first() {
    close_get_first(Eio::V3).await;
}

#[tokio::test]
async fn v3_close_over_polling_post_handled_first() {
    close_post_first(Eio::V3).await;
}

#[tokio::test]
async fn close_grace_zero_forgets_at_once() {
    let s = start(conformance().close_grace(Duration::ZERO)).await;
    let sid = handshake(s.addr).await;
    post(s.addr, &poll_path(&sid), b"1").await;
    s.wait_closes(1).await;
    wait_until(Duration::from_secs(1), "sid removed", || {
        s.engine.table_len() == 0
    })
    .await;
    assert_eq!(get(s.addr, &poll_path(&sid)).await.status, 400);
}

#[tokio::test]
async fn other_closes_over_polling_get_no_grace() {
    // Only the client's close packet gives a grace; a protocol error does not.
    let s = start(conformance()).await;
    let sid = handshake(s.addr).await;
    let r = post(s.addr, &poll_path(&sid), b"abc").await;
    assert_eq!(r.status, 400);
    s.wait_closes(1).await;
    wait_until(Duration::from_secs(1), "sid removed", || {
        s.engine.table_len() == 0
    })
    .await;
    assert_eq!(get(s.addr, &poll_path(&sid)).await.status, 400);
}

// ---- 2. A polling GET racing the upgrade's `5` ----------------------------

async fn probed(eio: Eio, s: &Server, sid: &str) -> Ws {
    let mut ws = ws_connect(s.addr, &eio.ws(sid)).await;
    ws_send(&mut ws, "2probe").await;
    assert_eq!(ws_text(&mut ws).await, "3probe");
    ws
}

fn transport_of(s: &Server, sid: &str) -> Option<TransportKind> {
    s.engine
        .get(Sid::parse(sid).unwrap())
        .map(|x| x.transport())
}

async fn upgrade_get_first(eio: Eio) {
    let s = start(eio.builder()).await;
    let sid = eio.handshake(s.addr).await;
    let mut ws = probed(eio, &s, &sid).await;
    let held = spawn_get(s.addr, eio.poll(&sid), "racing");
    wait_current_request(&s, &sid, "x-req", "racing").await;
    // The GET is in the engine's hands and not answered: held.
    tokio::task::yield_now().await;
    assert!(!held.is_finished());
    ws_send(&mut ws, "5").await;
    let r = held.await.unwrap();
    assert_eq!((r.status, r.text().as_str()), (400, BAD_REQUEST));
    assert_eq!(transport_of(&s, &sid), Some(TransportKind::WebSocket));
    ws_send(&mut ws, "4after").await;
    assert_eq!(ws_text(&mut ws).await, "4after");
    assert!(s.closes().is_empty());
}

async fn upgrade_five_first(eio: Eio) {
    let s = start(eio.builder()).await;
    let sid = eio.handshake(s.addr).await;
    let mut ws = probed(eio, &s, &sid).await;
    ws_send(&mut ws, "5").await;
    wait_until(Duration::from_secs(3), "upgrade done", || {
        transport_of(&s, &sid) == Some(TransportKind::WebSocket)
    })
    .await;
    let r = spawn_get(s.addr, eio.poll(&sid), "racing").await.unwrap();
    assert_eq!((r.status, r.text().as_str()), (400, BAD_REQUEST));
    ws_send(&mut ws, "4after").await;
    assert_eq!(ws_text(&mut ws).await, "4after");
    assert!(s.closes().is_empty());
}

async fn upgrade_fails_while_get_held(eio: Eio) {
    let s = start(eio.builder()).await;
    let sid = eio.handshake(s.addr).await;
    let ws = probed(eio, &s, &sid).await;
    let held = spawn_get(s.addr, eio.poll(&sid), "racing");
    wait_current_request(&s, &sid, "x-req", "racing").await;
    // The WebSocket goes away before `5`: the upgrade fails, and the held GET
    // is a normal poll again.
    drop(ws);
    wait_until(Duration::from_secs(3), "upgrade failure counted", || {
        s.engine.stats().upgrades_failed == 1
    })
    .await;
    assert!(!held.is_finished());
    let r = post(
        s.addr,
        &eio.poll(&sid),
        eio.payload("4still polling").as_bytes(),
    )
    .await;
    assert_eq!(r.text(), "ok");
    let r = held.await.unwrap();
    assert_eq!((r.status, r.text()), (200, eio.payload("4still polling")));
    assert_eq!(transport_of(&s, &sid), Some(TransportKind::Polling));
}

#[tokio::test]
async fn v4_get_racing_upgrade_get_handled_first() {
    upgrade_get_first(Eio::V4).await;
}

#[tokio::test]
async fn v4_get_racing_upgrade_five_handled_first() {
    upgrade_five_first(Eio::V4).await;
}

#[tokio::test]
async fn v3_get_racing_upgrade_get_handled_first() {
    upgrade_get_first(Eio::V3).await;
}

#[tokio::test]
async fn v3_get_racing_upgrade_five_handled_first() {
    upgrade_five_first(Eio::V3).await;
}

#[tokio::test]
async fn v4_get_held_during_upgrade_polls_again_when_it_fails() {
    upgrade_fails_while_get_held(Eio::V4).await;
}

#[tokio::test]
async fn v3_get_held_during_upgrade_polls_again_when_it_fails() {
    upgrade_fails_while_get_held(Eio::V3).await;
}

#[tokio::test]
async fn a_get_held_past_upgrade_hold_gets_noop() {
    // The default hold (200 ms); no `5` comes: the GET gets `6`, as a client
    // waiting for this poll to end before sending `5` needs.
    let s = start(conformance().ping_interval(Duration::from_secs(30))).await;
    assert_eq!(s.engine.config().upgrade_hold, Duration::from_millis(200));
    let sid = handshake(s.addr).await;
    let mut ws = probed(Eio::V4, &s, &sid).await;
    let held = spawn_get(s.addr, poll_path(&sid), "in flight");
    wait_current_request(&s, &sid, "x-req", "in flight").await;
    let r = tokio::time::timeout(Duration::from_secs(3), held)
        .await
        .expect("answered once the hold is over")
        .unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "6"));
    // The client then completes the upgrade.
    ws_send(&mut ws, "5").await;
    ws_send(&mut ws, "4up").await;
    assert_eq!(ws_text(&mut ws).await, "4up");
    assert_eq!(s.engine.stats().upgrades, 1);
}

#[tokio::test]
async fn upgrade_hold_is_bounded_by_the_upgrade_timeout() {
    let s = start(
        conformance()
            .upgrade_timeout(Duration::from_millis(300))
            .upgrade_hold(Duration::from_secs(60)),
    )
    .await;
    assert_eq!(s.engine.config().upgrade_hold, Duration::from_millis(300));
    let sid = handshake(s.addr).await;
    let _ws = probed(Eio::V4, &s, &sid).await;
    let held = spawn_get(s.addr, poll_path(&sid), "racing");
    wait_current_request(&s, &sid, "x-req", "racing").await;
    let r = tokio::time::timeout(Duration::from_secs(3), held)
        .await
        .expect("answered within the upgrade timeout")
        .unwrap();
    // `6` at the end of the hold, or the first ping if the upgrade timed
    // out first and the GET polled again.
    assert!(matches!(r.text().as_str(), "6" | "2"), "{}", r.text());
}

#[tokio::test]
async fn get_pending_at_the_probe_still_gets_noop_at_once() {
    // What real clients rely on to pause polling (no hold for them).
    for eio in [Eio::V4, Eio::V3] {
        let s = start(eio.builder()).await;
        let sid = eio.handshake(s.addr).await;
        let pending = spawn_get(s.addr, eio.poll(&sid), "pending");
        wait_current_request(&s, &sid, "x-req", "pending").await;
        let mut ws = probed(eio, &s, &sid).await;
        let r = pending.await.unwrap();
        assert_eq!((r.status, r.text()), (200, eio.payload("6")), "{eio:?}");
        ws_send(&mut ws, "5").await;
        ws_send(&mut ws, "4up").await;
        assert_eq!(ws_text(&mut ws).await, "4up");
        assert_eq!(s.engine.stats().upgrades, 1);
    }
}
