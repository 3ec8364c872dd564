//! WebSocket details where Node's behaviour is the reference: the close
//! status for an oversized message, base64 binary both ways (clients with
//! `forceBase64`, sessions opened with `b64=1`).

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use sockio_engine::DisconnectReason;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Reads until the close frame; its code.
async fn close_code(ws: &mut Ws) -> Option<CloseCode> {
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
            .await
            .expect("close within 5 s")
        {
            Some(Ok(WsMessage::Close(frame))) => return frame.map(|f| f.code),
            Some(Ok(_)) => continue,
            _ => return None,
        }
    }
}

#[tokio::test]
async fn message_over_max_payload_closes_with_1009() {
    let s = start(conformance().max_payload(100)).await;
    let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket").await;
    ws_text(&mut ws).await;
    // Exactly the limit is accepted.
    ws_send(&mut ws, &format!("4{}", "x".repeat(99))).await;
    assert_eq!(ws_text(&mut ws).await.len(), 100);
    ws_send(&mut ws, &format!("4{}", "x".repeat(200))).await;
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Size));
    assert_eq!(
        s.wait_closes(1).await,
        vec![DisconnectReason::PayloadTooLarge]
    );
    assert_eq!(s.engine.stats().payloads_too_large, 1);
}

#[tokio::test]
async fn fragmented_message_over_max_payload_closes_with_1009() {
    let s = start(conformance().max_payload(100)).await;
    let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket").await;
    ws_text(&mut ws).await;
    // Three 60-byte fragments of one binary message: over the limit at the second.
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let frag = |op: OpCode, fin: bool| {
        let mut f = Frame::message(vec![7u8; 60], op, fin);
        f.header_mut().is_final = fin;
        WsMessage::Frame(f)
    };
    ws.send(frag(OpCode::Data(Data::Binary), false))
        .await
        .unwrap();
    ws.send(frag(OpCode::Data(Data::Continue), false))
        .await
        .unwrap();
    let _ = ws.send(frag(OpCode::Data(Data::Continue), true)).await;
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Size));
    assert_eq!(
        s.wait_closes(1).await,
        vec![DisconnectReason::PayloadTooLarge]
    );
}

#[tokio::test]
async fn v4_base64_text_frame_is_a_binary_message() {
    let s = start(conformance()).await;
    let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket").await;
    ws_text(&mut ws).await;
    ws_send(&mut ws, "bAQID").await;
    // Echoed as a binary frame: the session did not ask for b64.
    assert_eq!(
        ws_next(&mut ws).await,
        Some(WsMessage::Binary(vec![1u8, 2, 3].into()))
    );
    let ev = s.engine.handler().messages();
    assert_eq!(ev, vec!["message Binary(b\"\\x01\\x02\\x03\")"]);
    // Invalid base64 is a parse error.
    ws_send(&mut ws, "b!!!").await;
    assert_eq!(ws_next(&mut ws).await, None);
    assert_eq!(s.wait_closes(1).await, vec![DisconnectReason::ParseError]);
}

#[tokio::test]
async fn v4_b64_session_gets_binary_as_base64_text_frames() {
    let s = start(conformance()).await;
    let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket&b64=1").await;
    ws_text(&mut ws).await;
    ws.send(WsMessage::Binary(vec![1u8, 2, 3, 4].into()))
        .await
        .unwrap();
    assert_eq!(ws_text(&mut ws).await, "bAQIDBA==");
    ws_send(&mut ws, "bAQIDBA==").await;
    assert_eq!(ws_text(&mut ws).await, "bAQIDBA==");
    // Text stays text.
    ws_send(&mut ws, "4héllo").await;
    assert_eq!(ws_text(&mut ws).await, "4héllo");
    // A packet group keeps its order.
    ws_send(&mut ws, "4group").await;
    assert_eq!(ws_text(&mut ws).await, "4a");
    assert_eq!(ws_text(&mut ws).await, "bAQ==");
}

#[tokio::test]
async fn v3_base64_frames_both_ways() {
    let s = start(conformance().allow_eio3(true)).await;
    let mut ws = ws_connect(s.addr, "EIO=3&transport=websocket&b64=1").await;
    ws_text(&mut ws).await;
    ws_send(&mut ws, "b4AQID").await;
    assert_eq!(ws_text(&mut ws).await, "b4AQID");
    // Without b64, a base64 frame in, a binary frame (type byte 4) out.
    let mut ws = ws_connect(s.addr, "EIO=3&transport=websocket").await;
    ws_text(&mut ws).await;
    ws_send(&mut ws, "b4AQID").await;
    assert_eq!(
        ws_next(&mut ws).await,
        Some(WsMessage::Binary(vec![4u8, 1, 2, 3].into()))
    );
    // `b` must be followed by the message type in v3.
    ws_send(&mut ws, "bAQID").await;
    assert_eq!(ws_next(&mut ws).await, None);
    assert_eq!(s.wait_closes(1).await, vec![DisconnectReason::ParseError]);
}

#[tokio::test]
async fn upgraded_session_takes_b64_from_the_websocket_request() {
    let s = start(conformance()).await;
    let sid = handshake(s.addr).await;
    let mut ws = ws_connect(
        s.addr,
        &format!("EIO=4&transport=websocket&sid={sid}&b64=1"),
    )
    .await;
    ws_send(&mut ws, "2probe").await;
    assert_eq!(ws_text(&mut ws).await, "3probe");
    ws_send(&mut ws, "5").await;
    ws.send(WsMessage::Binary(vec![9u8].into())).await.unwrap();
    assert_eq!(ws_text(&mut ws).await, "bCQ==");
}
