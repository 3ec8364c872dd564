//! A client that stops reading: volatile packets to it are dropped, and past
//! the queue limit it is disconnected with its own reason; others are unaffected.

use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sockio::{DisconnectReason, SocketIo, TestClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn http(port: u16, method: &str, path: &str, body: &str) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_string(&mut resp))
        .await
        .unwrap()
        .unwrap();
    resp.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_client_that_stops_reading_loses_volatile_packets_then_is_disconnected() {
    let io = SocketIo::builder().max_buffered_packets(4).build().unwrap();
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let r2 = reasons.clone();
    io.on_disconnect(move |reason: DisconnectReason| {
        let r = r2.clone();
        async move { r.lock().unwrap().push(reason.to_string()) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(sockio::serve_listener(io.clone(), listener).into_future());

    // A polling client that connects to `/` and then does not poll.
    let open = http(port, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
    let sid = open.split('"').nth(3).unwrap().to_string();
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(http(port, "POST", &path, "40").await, "ok");
    let well_behaved = TestClient::connect(&io).await.unwrap();
    let slow = io
        .of("/")
        .sockets()
        .into_iter()
        .find(|s| s.id().as_str() != well_behaved.id())
        .unwrap();

    // The queue holds the CONNECT reply and three more: later volatile packets are dropped.
    for i in 0..10 {
        slow.volatile().emit("v", &i).await.unwrap();
    }
    assert!(slow.connected());
    let got = http(port, "GET", &path, "").await;
    assert_eq!(got.matches("42[\"v\"").count(), 3, "{got}");
    assert!(
        got.contains("42[\"v\",0]") && got.contains("42[\"v\",2]") && !got.contains("42[\"v\",3]")
    );

    // Past the limit, a packet that must be delivered closes the connection.
    for i in 0..10 {
        let _ = slow.emit("n", &i).await;
    }
    for _ in 0..100 {
        if !reasons.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        *reasons.lock().unwrap(),
        vec!["send queue full".to_string()]
    );

    // Others are unaffected.
    io.emit("still", &"here").await.unwrap();
    assert_eq!(well_behaved.recv().await.unwrap().event, "still");
}
