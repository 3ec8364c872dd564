//! permessage-deflate (RFC 7692) as a client sees it on the wire: a raw
//! WebSocket client that offers the extension (as browsers and Node's `ws`
//! do), reads the RSV1 bit of each frame and inflates what is compressed.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Raw {
    tcp: TcpStream,
    buf: Vec<u8>,
    inflate: Decompress,
    deflate: Compress,
}

struct WireFrame {
    rsv1: bool,
    opcode: u8,
    payload: Vec<u8>,
}

const OFFER: &str = "permessage-deflate; client_max_window_bits";

/// Opens `/engine.io/` over WebSocket offering `extensions`; the 101's
/// `Sec-WebSocket-Extensions` (if any) and the connection.
async fn connect(addr: SocketAddr, extensions: Option<&str>) -> (Option<String>, Raw) {
    connect_to(addr, "EIO=4&transport=websocket", extensions).await
}

async fn connect_to(
    addr: SocketAddr,
    query: &str,
    extensions: Option<&str>,
) -> (Option<String>, Raw) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "GET /engine.io/?{query} HTTP/1.1\r\nHost: {addr}\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    );
    if let Some(e) = extensions {
        req.push_str(&format!("Sec-WebSocket-Extensions: {e}\r\n"));
    }
    req.push_str("\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let end = loop {
        let mut chunk = [0u8; 1024];
        let n = tcp.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed during the handshake");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8(buf[..end].to_vec()).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let ext = head
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("sec-websocket-extensions:")
        })
        .map(|l| l.split_once(':').unwrap().1.trim().to_owned());
    let raw = Raw {
        tcp,
        buf: buf[end..].to_vec(),
        inflate: Decompress::new(false),
        deflate: Compress::new(Compression::default(), false),
    };
    (ext, raw)
}

impl Raw {
    async fn fill(&mut self, n: usize) {
        while self.buf.len() < n {
            let mut chunk = [0u8; 8192];
            let r = tokio::time::timeout(Duration::from_secs(5), self.tcp.read(&mut chunk))
                .await
                .expect("data within 5 s")
                .unwrap();
            assert!(r > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..r]);
        }
    }

    /// The next frame from the server (unmasked, not fragmented).
    async fn frame(&mut self) -> WireFrame {
        self.fill(2).await;
        let (b0, b1) = (self.buf[0], self.buf[1]);
        assert_eq!(b1 & 0x80, 0, "server frames are not masked");
        let (len, head) = match b1 & 0x7f {
            126 => {
                self.fill(4).await;
                (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
            }
            127 => {
                self.fill(10).await;
                let mut l = [0u8; 8];
                l.copy_from_slice(&self.buf[2..10]);
                (u64::from_be_bytes(l) as usize, 10)
            }
            n => (n as usize, 2),
        };
        self.fill(head + len).await;
        let payload = self.buf[head..head + len].to_vec();
        self.buf.drain(..head + len);
        assert_ne!(b0 & 0x80, 0, "single-frame messages");
        WireFrame {
            rsv1: b0 & 0x40 != 0,
            opcode: b0 & 0x0f,
            payload,
        }
    }

    /// The next text frame's content, inflated when compressed.
    async fn text(&mut self) -> (bool, usize, String) {
        let f = self.frame().await;
        assert_eq!(f.opcode, 1, "a text frame");
        let wire = f.payload.len();
        let data = if f.rsv1 {
            inflate(&mut self.inflate, &f.payload)
        } else {
            f.payload
        };
        (f.rsv1, wire, String::from_utf8(data).unwrap())
    }

    /// Sends a masked text frame, compressed (RSV1) when asked.
    async fn send_text(&mut self, text: &str, compress: bool) {
        let payload = if compress {
            deflate(&mut self.deflate, text.as_bytes())
        } else {
            text.as_bytes().to_vec()
        };
        let mut f = vec![0x81 | if compress { 0x40 } else { 0 }];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n < 65536 => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let key = [0x12u8, 0x34, 0x56, 0x78];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        self.tcp.write_all(&f).await.unwrap();
    }
}

/// RFC 7692 7.2.2: append `00 00 ff ff` and inflate (context kept).
fn inflate(d: &mut Decompress, data: &[u8]) -> Vec<u8> {
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(input.len() * 20 + 1024);
    let start = d.total_in();
    while (d.total_in() - start) < input.len() as u64 {
        let at = (d.total_in() - start) as usize;
        if out.len() == out.capacity() {
            out.reserve(out.capacity());
        }
        d.decompress_vec(&input[at..], &mut out, FlushDecompress::Sync)
            .unwrap();
    }
    out
}

/// RFC 7692 7.2.1: deflate with a sync flush, minus the `00 00 ff ff` tail.
fn deflate(c: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1024);
    let start = c.total_in();
    loop {
        let at = (c.total_in() - start) as usize;
        c.compress_vec(&data[at..], &mut out, FlushCompress::Sync)
            .unwrap();
        if (c.total_in() - start) as usize == data.len() && out.ends_with(&[0, 0, 0xff, 0xff]) {
            break;
        }
        out.reserve(1024);
    }
    out.truncate(out.len() - 4);
    out
}

fn config(on: bool) -> sockio_engine::EngineConfigBuilder {
    conformance()
        .ping_interval(Duration::from_secs(20))
        .per_message_deflate(on)
}

fn big() -> String {
    format!("4{}", "sockio permessage-deflate ".repeat(400))
}

#[tokio::test]
async fn negotiated_only_when_on_and_offered() {
    let on = start(config(true)).await;
    let (ext, mut ws) = connect(on.addr, Some(OFFER)).await;
    let ext = ext.expect("the extension is accepted");
    assert!(ext.starts_with("permessage-deflate"), "{ext}");
    // The open packet is small: below the threshold, uncompressed.
    let (rsv1, _, open) = ws.text().await;
    assert!(!rsv1 && open.starts_with("0{"), "{open}");

    // A client that offers nothing gets nothing.
    let (ext, mut ws) = connect(on.addr, None).await;
    assert_eq!(ext, None);
    ws.text().await;

    // Off (the default): the offer is ignored, large messages go plain.
    let off = start(config(false)).await;
    let (ext, mut ws) = connect(off.addr, Some(OFFER)).await;
    assert_eq!(ext, None);
    ws.text().await;
    ws.send_text(&big(), false).await;
    let (rsv1, wire, echo) = ws.text().await;
    assert!(!rsv1);
    assert_eq!(wire, big().len());
    assert_eq!(echo, big());
}

#[tokio::test]
async fn large_messages_compressed_both_ways_small_ones_plain() {
    let s = start(config(true)).await;
    let (_, mut ws) = connect(s.addr, Some(OFFER)).await;
    ws.text().await;
    // A compressed message from the client is accepted; its echo is
    // compressed (RSV1, far fewer bytes) and inflates to the same text.
    for _ in 0..3 {
        ws.send_text(&big(), true).await;
        let (rsv1, wire, echo) = ws.text().await;
        assert!(rsv1, "a message over the threshold is compressed");
        assert!(wire < big().len() / 4, "{wire} bytes on the wire");
        assert_eq!(echo, big());
    }
    // Below the 1024-byte threshold: sent as is.
    ws.send_text("4hello", false).await;
    let (rsv1, wire, echo) = ws.text().await;
    assert!(!rsv1);
    assert_eq!((wire, echo.as_str()), (6, "4hello"));
    let msgs = s.engine.handler().messages();
    assert_eq!(msgs.len(), 4, "{msgs:?}");
    assert_eq!(msgs[3], "message Text(\"hello\")");
}

#[tokio::test]
async fn compress_false_is_sent_uncompressed_in_order() {
    let s = start(config(true)).await;
    let (_, mut ws) = connect(s.addr, Some(OFFER)).await;
    ws.text().await;
    let plain = format!("plain {}", &big()[1..]);
    // Compressed, uncompressed, compressed: in order, and the compression
    // context of the compressed ones is not disturbed.
    ws.send_text(&big(), false).await;
    ws.send_text(&format!("4{plain}"), false).await;
    ws.send_text(&big(), true).await;
    let (rsv1, _, echo) = ws.text().await;
    assert!(rsv1);
    assert_eq!(echo, big());
    let (rsv1, wire, text) = ws.text().await;
    assert!(!rsv1, "compress(false) goes uncompressed");
    assert_eq!(wire, big().len());
    assert_eq!(text, big());
    let (rsv1, _, echo) = ws.text().await;
    assert!(rsv1);
    assert_eq!(echo, big());
}

#[tokio::test]
async fn upgrade_from_polling_negotiates_too() {
    let s = start(config(true)).await;
    let sid = handshake(s.addr).await;
    let q = format!("EIO=4&transport=websocket&sid={sid}");
    let (ext, mut ws) = connect_to(s.addr, &q, Some(OFFER)).await;
    assert!(ext.is_some());
    ws.send_text("2probe", false).await;
    assert_eq!(ws.text().await.2, "3probe");
    ws.send_text("5", false).await;
    ws.send_text(&big(), true).await;
    let (rsv1, _, echo) = ws.text().await;
    assert!(rsv1);
    assert_eq!(echo, big());
}

#[tokio::test]
async fn threshold_is_configurable() {
    let s = start(config(true).per_message_deflate_threshold(4)).await;
    let (_, mut ws) = connect(s.addr, Some(OFFER)).await;
    ws.text().await;
    ws.send_text("4hello hello hello", false).await;
    let (rsv1, _, echo) = ws.text().await;
    assert!(rsv1);
    assert_eq!(echo, "4hello hello hello");
}

#[tokio::test]
async fn inflated_size_is_bounded_by_max_payload() {
    let s = start(config(true).max_payload(10_000)).await;
    let (_, mut ws) = connect(s.addr, Some(OFFER)).await;
    ws.text().await;
    // 100 KB of zeros deflate to a few hundred bytes: under the limit on the
    // wire, over it inflated.
    let bomb = format!("4{}", "0".repeat(100_000));
    ws.send_text(&bomb, true).await;
    let f = ws.frame().await;
    assert_eq!(f.opcode, 8, "a close frame");
    assert_eq!(u16::from_be_bytes([f.payload[0], f.payload[1]]), 1009);
    assert_eq!(
        s.wait_closes(1).await,
        vec![sockio_engine::DisconnectReason::PayloadTooLarge]
    );
}
