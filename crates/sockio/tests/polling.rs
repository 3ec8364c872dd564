//! Socket.IO v5 over Engine.IO v4 long-polling on the interop server, from a
//! raw HTTP/1.1 client: connect, events and acks, the 16-packet cap of a
//! polling response under a burst, and an upgrade to WebSocket that keeps the
//! namespace sockets.

mod common;

use std::net::SocketAddr;

use common::*;
use sockio::Parser;

const PH0: &str = r#"{"_placeholder":true,"num":0}"#;

struct Session {
    addr: SocketAddr,
    sid: String,
}

impl Session {
    async fn open(addr: SocketAddr) -> Session {
        let r = get(addr, "/socket.io/?EIO=4&transport=polling").await;
        assert_eq!(r.status, 200);
        let open = r.text();
        let v: serde_json::Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
        assert_eq!(v["upgrades"], serde_json::json!(["websocket"]));
        assert_eq!(v["pingInterval"], 1000);
        Session {
            addr,
            sid: sid_of(&open),
        }
    }

    fn path(&self) -> String {
        format!("/socket.io/?EIO=4&transport=polling&sid={}", self.sid)
    }

    async fn post(&self, packets: &[&str]) {
        post(
            self.addr,
            &self.path(),
            "text/plain;charset=UTF-8",
            packets.join("\x1e").as_bytes(),
        )
        .await;
    }

    /// One GET: its packets, pings answered and left out.
    async fn poll(&self) -> Vec<String> {
        let r = get(self.addr, &self.path()).await;
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("content-type"), Some("text/plain; charset=UTF-8"));
        let mut out = Vec::new();
        for p in r.text().split('\x1e') {
            if p == "2" {
                self.post(&["3"]).await;
            } else {
                out.push(p.to_owned());
            }
        }
        out
    }

    /// GETs until `n` packets came; returns them and the size of each GET.
    async fn collect(&self, n: usize) -> (Vec<String>, Vec<usize>) {
        let mut out = Vec::new();
        let mut sizes = Vec::new();
        while out.len() < n {
            assert!(sizes.len() < 4 * n + 4, "too many GETs: {out:?}");
            let got = self.poll().await;
            sizes.push(got.len());
            out.extend(got);
        }
        assert_eq!(out.len(), n, "{out:?}");
        (out, sizes)
    }

    /// CONNECT to `nsp`; returns the socket id after the reply and the welcome.
    async fn connect(&self, nsp: &str) -> String {
        let prefix = if nsp == "/" {
            String::new()
        } else {
            format!("{nsp},")
        };
        self.post(&[&format!("40{prefix}")]).await;
        let (got, _) = self.collect(2).await;
        let body = got[0]
            .strip_prefix(&format!("40{prefix}"))
            .unwrap_or_else(|| panic!("{got:?}"));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        let id = v["sid"].as_str().unwrap().to_owned();
        assert_eq!(id.len(), 20);
        assert_ne!(id, self.sid, "socket ids differ from the session id");
        assert_eq!(
            got[1],
            format!(r#"42{prefix}["welcome",{{"sid":"{id}","namespace":"{nsp}"}}]"#)
        );
        id
    }
}

async fn server() -> SocketAddr {
    start(Parser::Json, true, INTEROP).await
}

#[tokio::test]
async fn polling_connect_event_and_ack() {
    let addr = server().await;
    let s = Session::open(addr).await;
    s.connect("/").await;
    s.connect("/chat").await;
    s.post(&[
        r#"421["echo","é😀",{"k\"ey":[1,null]}]"#,
        r#"42/chat,2["echo"]"#,
        r#"42["echo-emit","x"]"#,
    ])
    .await;
    assert_eq!(
        s.collect(3).await.0,
        vec![
            r#"431["é😀",{"k\"ey":[1,null]}]"#,
            r#"43/chat,2[]"#,
            r#"42["echo-back","x"]"#,
        ]
    );
    // Binary: `b` + base64 records after the packet.
    s.post(&[&format!(r#"451-3["echo",{PH0}]"#), "bAQID"]).await;
    assert_eq!(
        s.collect(2).await.0,
        vec![format!(r#"461-3[{PH0}]"#), "bAQID".to_owned()]
    );
}

#[tokio::test]
async fn polling_burst_comes_in_gets_of_at_most_16_packets_in_order() {
    let addr = server().await;
    let s = Session::open(addr).await;
    s.connect("/").await;
    let sent: Vec<String> = (0..40).map(|i| format!(r#"42["echo-emit",{i}]"#)).collect();
    let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
    s.post(&refs).await;
    let (got, sizes) = s.collect(40).await;
    let want: Vec<String> = (0..40).map(|i| format!(r#"42["echo-back",{i}]"#)).collect();
    assert_eq!(got, want);
    assert!(sizes.iter().all(|&n| n <= 16), "GET sizes {sizes:?}");
    assert!(sizes.len() >= 3);
}

#[tokio::test]
async fn upgrade_to_websocket_keeps_the_namespace_sockets() {
    let addr = server().await;
    let s = Session::open(addr).await;
    let root = s.connect("/").await;
    let chat = s.connect("/chat").await;
    s.post(&[r#"42/chat,1["join","r"]"#]).await;
    assert_eq!(s.collect(1).await.0, vec![r#"43/chat,1["r"]"#]);

    let mut ws = ws_connect(addr, &format!("EIO=4&transport=websocket&sid={}", s.sid)).await;
    ws_send(&mut ws, "2probe").await;
    assert_eq!(ws_recv(&mut ws, false).await, "3probe");
    ws_send(&mut ws, "5").await;

    // Both sockets, their ids and rooms, are still there, now over WebSocket.
    ws_send(&mut ws, r#"421["echo","a"]"#).await;
    assert_eq!(ws_recv(&mut ws, true).await, r#"431["a"]"#);
    ws_send(&mut ws, r#"42/chat,2["to-room","r","news","é"]"#).await;
    assert_eq!(ws_recv(&mut ws, true).await, r#"42/chat,["news","é"]"#);
    assert_eq!(ws_recv(&mut ws, true).await, r#"43/chat,2[]"#);
    ws_send(&mut ws, &format!(r#"451-/chat,3["echo",{PH0}]"#)).await;
    ws_send_bin(&mut ws, &[1, 2]).await;
    assert_eq!(
        ws_recv(&mut ws, true).await,
        format!(r#"461-/chat,3[{PH0}]"#)
    );
    assert_eq!(ws_recv(&mut ws, true).await, "<bin:0102>");
    // New namespaces can still be joined over the upgraded transport.
    ws_send(&mut ws, "40/private,{\"token\":\"secret\"}").await;
    let reply = ws_recv(&mut ws, true).await;
    assert!(reply.starts_with("40/private,{\"sid\":\""), "{reply}");
    let welcome = ws_recv(&mut ws, true).await;
    assert!(welcome.starts_with(r#"42/private,["welcome""#), "{welcome}");
    assert_ne!(root, chat);
}

#[tokio::test]
async fn non_object_auth_is_refused_with_connect_error() {
    let addr = server().await;
    let s = Session::open(addr).await;
    // python-socketio sends any JSON value as auth.
    s.post(&[r#"40/private,"secret""#, r#"40/private,["secret"]"#])
        .await;
    let refused = r#"44/private,{"message":"invalid token"}"#;
    assert_eq!(s.collect(2).await.0, vec![refused, refused]);
    // The session stays usable.
    s.post(&[r#"40/private,{"token":"secret"}"#]).await;
    let (got, _) = s.collect(2).await;
    assert!(got[0].starts_with(r#"40/private,{"sid":""#), "{got:?}");
}
