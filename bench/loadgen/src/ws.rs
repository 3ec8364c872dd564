//! A minimal WebSocket client speaking Engine.IO v4 / Socket.IO v5 over raw frames.
//!
//! Cheap per message: frames are written with a zero masking key (legal, and the XOR
//! becomes the identity, so payloads are copied as they are), several frames go out in
//! one `write`, and incoming frames are parsed in place in one reusable buffer.

use std::io::{self, ErrorKind};
use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// WebSocket opcodes the generator cares about.
pub mod op {
    /// Continuation frame.
    pub const CONT: u8 = 0;
    /// Text frame.
    pub const TEXT: u8 = 1;
    /// Binary frame.
    pub const BINARY: u8 = 2;
    /// Close frame.
    pub const CLOSE: u8 = 8;
    /// Ping frame.
    pub const PING: u8 = 9;
    /// Pong frame.
    pub const PONG: u8 = 10;
}

/// Where and how to connect: server address, `Host` header, optional source address.
#[derive(Debug, Clone)]
pub struct Target {
    /// Server socket address (loopback).
    pub addr: SocketAddr,
    /// Value for the `Host` header.
    pub host: String,
    /// Socket.IO path, e.g. `/socket.io/`.
    pub path: String,
}

impl Target {
    /// Parses `http://127.0.0.1:3000` (or `ws://…`, optionally with a path) into a target.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/socket.io/"),
        };
        let path = if path == "/" { "/socket.io/" } else { path };
        let addr: SocketAddr = hostport
            .replace("localhost", "127.0.0.1")
            .parse()
            .map_err(|e| format!("--url {url}: expected host:port of an IP address ({e})"))?;
        if !addr.ip().is_loopback() {
            return Err(format!("--url {url}: only loopback addresses are allowed"));
        }
        let mut path = path.to_string();
        if !path.ends_with('/') {
            path.push('/');
        }
        Ok(Self {
            addr,
            host: hostport.to_string(),
            path,
        })
    }

    /// Opens a TCP connection, from `src` if given (port chosen by the kernel).
    pub async fn tcp(&self, src: Option<IpAddr>) -> io::Result<TcpStream> {
        let sock = TcpSocket::new_v4()?;
        if let Some(ip) = src {
            sock.bind(SocketAddr::new(ip, 0))?;
        }
        let s = sock.connect(self.addr).await?;
        s.set_nodelay(true)?;
        Ok(s)
    }
}

/// Appends one client text frame (FIN, zero mask) whose payload is the concatenation of `parts`.
pub fn push_text_frame(out: &mut Vec<u8>, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    push_header(out, 0x80 | op::TEXT, len);
    for p in parts {
        out.extend_from_slice(p);
    }
}

/// Appends a frame header with a zero masking key for a payload of `len` bytes.
pub fn push_header(out: &mut Vec<u8>, b0: u8, len: usize) {
    out.push(b0);
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
}

/// The decimal digits of `n`: `(buffer, start)`, the digits being `buffer[start..]`.
pub fn digits(mut n: u64) -> ([u8; 20], usize) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    (tmp, i)
}

/// Appends the decimal digits of `n`.
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    let (d, i) = digits(n);
    out.extend_from_slice(&d[i..]);
}

/// Parses leading decimal digits; returns the number and the rest.
pub fn parse_u64(b: &[u8]) -> Option<(u64, &[u8])> {
    let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || n > 19 {
        return None;
    }
    let v = b[..n]
        .iter()
        .fold(0u64, |a, c| a * 10 + u64::from(c - b'0'));
    Some((v, &b[n..]))
}

/// A WebSocket client connection with its read buffer and pending output.
pub struct WsConn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    frag: Vec<u8>,
    /// Bytes waiting for [`WsConn::flush`].
    pub out: Vec<u8>,
}

fn proto_err(msg: impl Into<String>) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, msg.into())
}

impl WsConn {
    /// Connects and performs the WebSocket handshake on `path_query`.
    pub async fn connect(
        target: &Target,
        src: Option<IpAddr>,
        path_query: &str,
        buf_size: usize,
    ) -> io::Result<Self> {
        let mut stream = target.tcp(src).await?;
        let req = format!(
            "GET {path_query} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: c29ja2lvLWxvYWRnZW4tMQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            target.host
        );
        stream.write_all(req.as_bytes()).await?;
        let mut c = Self {
            stream,
            buf: vec![0; buf_size.max(512)],
            start: 0,
            end: 0,
            frag: Vec::new(),
            out: Vec::new(),
        };
        loop {
            if let Some(i) = find(&c.buf[..c.end], b"\r\n\r\n") {
                let head = &c.buf[..i];
                if !head.starts_with(b"HTTP/1.1 101") {
                    let line =
                        String::from_utf8_lossy(head.split(|b| *b == b'\r').next().unwrap_or(b""));
                    return Err(proto_err(format!("websocket handshake refused: {line}")));
                }
                c.start = i + 4;
                break;
            }
            c.read_more().await?;
        }
        Ok(c)
    }

    /// Reads more bytes into the buffer (cancel-safe). Errors on EOF.
    pub async fn read_more(&mut self) -> io::Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        self.end += n;
        Ok(())
    }

    /// Calls `f(payload, out)` for every complete text message in the buffer; answers
    /// WebSocket pings; errors on a close frame. Incomplete frames stay buffered.
    pub fn drain(&mut self, mut f: impl FnMut(&[u8], &mut Vec<u8>)) -> io::Result<()> {
        loop {
            let avail = &self.buf[self.start..self.end];
            if avail.len() < 2 {
                return Ok(());
            }
            let b0 = avail[0];
            let b1 = avail[1];
            if b1 & 0x80 != 0 {
                return Err(proto_err("server sent a masked frame"));
            }
            let (len, hdr) = match b1 & 0x7f {
                126 if avail.len() >= 4 => (u16::from_be_bytes([avail[2], avail[3]]) as usize, 4),
                127 if avail.len() >= 10 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&avail[2..10]);
                    (u64::from_be_bytes(b) as usize, 10)
                }
                126 | 127 => return Ok(()),
                l => (l as usize, 2),
            };
            if avail.len() < hdr + len {
                if hdr + len > self.buf.len() {
                    // Make room for a large frame.
                    let need = hdr + len;
                    self.buf.copy_within(self.start..self.end, 0);
                    self.end -= self.start;
                    self.start = 0;
                    self.buf.resize(need.next_power_of_two(), 0);
                }
                return Ok(());
            }
            let payload = &avail[hdr..hdr + len];
            let fin = b0 & 0x80 != 0;
            match b0 & 0x0f {
                op::TEXT | op::BINARY if fin => f(payload, &mut self.out),
                op::TEXT | op::BINARY => {
                    self.frag.clear();
                    self.frag.extend_from_slice(payload);
                }
                op::CONT => {
                    self.frag.extend_from_slice(payload);
                    if fin {
                        let m = std::mem::take(&mut self.frag);
                        f(&m, &mut self.out);
                    }
                }
                op::PING => {
                    push_header(&mut self.out, 0x80 | op::PONG, len);
                    self.out.extend_from_slice(payload);
                }
                op::PONG => {}
                op::CLOSE => {
                    return Err(io::Error::new(
                        ErrorKind::ConnectionAborted,
                        "server sent a close frame",
                    ))
                }
                o => return Err(proto_err(format!("unknown opcode {o}"))),
            }
            self.start += hdr + len;
        }
    }

    /// Writes all pending output.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Opens an Engine.IO v4 WebSocket session and connects to the main Socket.IO
    /// namespace: waits for `0{…}`, sends `40`, waits for `40{…}`. Pings are answered.
    pub async fn open_session(
        target: &Target,
        src: Option<IpAddr>,
        buf_size: usize,
    ) -> io::Result<Self> {
        let pq = format!("{}?EIO=4&transport=websocket", target.path);
        let mut c = Self::connect(target, src, &pq, buf_size).await?;
        // 0 = not opened, 1 = open seen and 40 sent, 2 = namespace connected.
        let mut state = 0u8;
        let mut err: Option<String> = None;
        loop {
            c.drain(|m, out| {
                if state == 0 && m.first() == Some(&b'0') {
                    push_text_frame(out, &[b"40"]);
                    state = 1;
                } else if m == b"2" {
                    push_text_frame(out, &[b"3"]);
                } else if state == 1 && m.starts_with(b"40") {
                    state = 2;
                } else if m.starts_with(b"44") || m.first() == Some(&b'1') {
                    err = Some(String::from_utf8_lossy(m).into_owned());
                }
            })?;
            if let Some(e) = err.take() {
                return Err(proto_err(format!("session refused: {e}")));
            }
            c.flush().await?;
            if state == 2 {
                return Ok(c);
            }
            c.read_more().await?;
        }
    }
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lengths() {
        let mut v = Vec::new();
        push_header(&mut v, 0x81, 5);
        assert_eq!(v, [0x81, 0x85, 0, 0, 0, 0]);
        v.clear();
        push_header(&mut v, 0x81, 300);
        assert_eq!(v, [0x81, 0xfe, 1, 44, 0, 0, 0, 0]);
    }

    #[test]
    fn numbers_round_trip() {
        let mut v = Vec::new();
        push_u64(&mut v, 1234567);
        assert_eq!(parse_u64(&v), Some((1234567, &b""[..])));
        assert_eq!(parse_u64(b"43["), Some((43, &b"["[..])));
        assert_eq!(parse_u64(b"["), None);
    }

    #[test]
    fn url_parsing() {
        let t = Target::parse("http://127.0.0.1:3000").unwrap();
        assert_eq!(t.path, "/socket.io/");
        assert!(Target::parse("http://10.0.0.1:3000").is_err());
    }
}
