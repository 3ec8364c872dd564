//! The bridge from Engine.IO to Socket.IO: decodes each message of a
//! connection, reassembles binary attachments, and dispatches packets to
//! namespaces and sockets (connect, events, acks, disconnects).

use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use sockio_engine::{EngineHandler, Message, ProtocolVersion};

use crate::errors::{HandlerError, HandlerErrorKind};
use crate::extract::Context;
use crate::handler::{Completion, CompletionKind};
use crate::io::{IoInner, Parser};
use crate::protocol::{self, Decoded, Packet, PacketKind, PartialPacket, Revision, Value};
use crate::socket::{panic_message, run_now_or_spawn, DisconnectReason, Socket, SocketId};
use crate::Conn;

/// The Engine.IO handler of a [`crate::SocketIo`] server (it appears in the
/// types of [`crate::SocketIo::layer`] and [`crate::SocketIo::service`]).
pub struct SioHandler {
    pub(crate) io: Arc<IoInner>,
}

/// Socket.IO state of one Engine.IO connection.
#[derive(Default)]
pub struct ConnData {
    state: Mutex<ConnState>,
    /// Event handlers waiting (see `socket::InFlight`).
    pub(crate) in_flight: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
struct ConnState {
    /// Namespace name → socket (few per connection: a Vec is fastest).
    sockets: Vec<(Arc<str>, Socket)>,
    /// A binary packet waiting for its attachments.
    partial: Option<PartialPacket>,
    /// Set once any namespace connected (stops the connect timeout).
    ever_connected: bool,
}

impl ConnState {
    fn socket(&self, nsp: &str) -> Option<Socket> {
        self.sockets
            .iter()
            .find(|(n, _)| &**n == nsp)
            .map(|(_, s)| s.clone())
    }
}

impl ConnData {
    fn socket(&self, nsp: &str) -> Option<Socket> {
        self.state.lock().unwrap().socket(nsp)
    }
}

/// Where the JSON of a Socket.IO text packet starts: after the type, the
/// attachment count (`N-`), the namespace (`/nsp,`) and the ack id.
fn json_start(packet: &str) -> Option<usize> {
    let b = packet.as_bytes();
    let mut i = 1; // the type digit
    if matches!(b.first(), Some(b'5' | b'6')) {
        i += b[i..].iter().position(|&c| c == b'-')? + 1;
    }
    if b.get(i) == Some(&b'/') {
        i += b[i..].iter().position(|&c| c == b',')? + 1;
    }
    i += b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    (i <= b.len()).then_some(i)
}

/// Whether the connection ever joined a namespace.
pub(crate) fn ever_connected(conn: &Conn) -> bool {
    conn.data().state.lock().unwrap().ever_connected
}

/// Removes a socket from its connection's table.
pub(crate) fn detach(s: &Socket) {
    let mut st = s.0.conn.data().state.lock().unwrap();
    st.sockets.retain(|(_, x)| x != s);
}

fn revision(conn: &Conn) -> Revision {
    match conn.protocol() {
        ProtocolVersion::V3 => Revision::V4,
        ProtocolVersion::V4 => Revision::V5,
    }
}

impl EngineHandler for SioHandler {
    type Data = ConnData;

    fn on_open(&self, conn: &Arc<Conn>) {
        if conn.protocol() == ProtocolVersion::V3 {
            // Socket.IO protocol v4: the connection to `/` is implicit, with
            // the handshake's query as its auth.
            let auth = conn.request().uri.query().map(|q| {
                Value::Object(
                    crate::util::parse_query(q)
                        .into_iter()
                        .filter(|(k, _)| {
                            !matches!(k.as_str(), "EIO" | "transport" | "t" | "b64" | "sid")
                        })
                        .collect(),
                )
            });
            self.connect(conn, "/", auth);
            return;
        }
        self.io.watch_connect(conn);
    }

    fn on_message(&self, conn: &Arc<Conn>, msg: Message) {
        // No span entered here, per message: the connection's span costs an
        // enter and an exit (and a `log` record check when tracing's `log`
        // feature is on); the debug events below name the connection.
        if let Some(t) = &self.io.traffic {
            t.received(msg.len());
        }
        if let Err(e) = self.decode_and_dispatch(conn, msg) {
            tracing::debug!(sid = conn.id().as_str(), "invalid packet: {e}");
            crate::stats::Counters::bump(&self.io.stats.packets_invalid);
            conn.close(sockio_engine::DisconnectReason::ParseError);
        }
    }

    fn ascii_text(&self, text: &str) -> Option<String> {
        // socket.io-client 1.x and 2.x read v3 text polling payloads
        // differently; ASCII reads the same to both. Non-ASCII characters of a
        // packet sit in its JSON (strings and keys), where `\uXXXX` escapes
        // keep the same value.
        if self.io.config.parser != Parser::Json {
            return None;
        }
        let start = json_start(text)?;
        let (head, json) = text.split_at(start);
        if !head.is_ascii() {
            return None;
        }
        let mut out = String::with_capacity(text.len() + 32);
        out.push_str(head);
        for c in json.chars() {
            if c.is_ascii() {
                out.push(c);
            } else {
                for unit in c.encode_utf16(&mut [0u16; 2]) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
        Some(out)
    }

    fn on_close(&self, conn: &Arc<Conn>, reason: sockio_engine::DisconnectReason) {
        let sockets: Vec<Socket> = {
            let mut st = conn.data().state.lock().unwrap();
            st.partial = None;
            st.sockets.drain(..).map(|(_, s)| s).collect()
        };
        for s in sockets {
            s.closed(DisconnectReason::Transport(reason));
        }
    }
}

impl SioHandler {
    /// Decodes a message and hands the packet it completes to `dispatch`.
    /// A plain text packet (the common case) is looked up and dispatched
    /// under one lock of the connection's table, its namespace uncopied.
    fn decode_and_dispatch(&self, conn: &Arc<Conn>, msg: Message) -> Result<(), String> {
        let limits = &self.io.limits;
        let packet = match self.io.config.parser {
            Parser::MsgPack => match msg.as_binary() {
                Some(b) => match protocol::decode_msgpack(b, limits) {
                    Ok(p) => p,
                    Err(e) if is_connect_payload_error(&e) => {
                        msgpack_connect_with_any_auth(b, limits).ok_or(e.to_string())?
                    }
                    Err(e) => return Err(e.to_string()),
                },
                None => return Err("text message on a msgpack endpoint".into()),
            },
            Parser::Json => {
                let mut st = conn.data().state.lock().unwrap();
                if let Some(bin) = msg.as_binary() {
                    let Some(partial) = st.partial.as_mut() else {
                        return Err("unexpected binary attachment".into());
                    };
                    let Some(p) = partial.push(bin.clone()).map_err(|e| e.to_string())? else {
                        return Ok(());
                    };
                    st.partial = None;
                    drop(st);
                    p
                } else {
                    if st.partial.is_some() {
                        return Err("text packet while binary attachments were expected".into());
                    }
                    let text = msg.as_text().unwrap_or_default();
                    let parts = match protocol::decode_json_parts(text, revision(conn), limits) {
                        Ok(d) => d,
                        Err(e) if is_connect_payload_error(&e) => {
                            drop(st);
                            let p = json_connect_with_any_auth(text, revision(conn), limits)
                                .ok_or(e.to_string())?;
                            self.dispatch(conn, p.kind, &p.nsp, p.id, p.data);
                            return Ok(());
                        }
                        Err(e) => return Err(e.to_string()),
                    };
                    if parts.attachments > 0 {
                        match parts.into_decoded().map_err(|e| e.to_string())? {
                            Decoded::NeedsAttachments(partial) => st.partial = Some(partial),
                            Decoded::Complete(_) => unreachable!("a packet with attachments"),
                        }
                        return Ok(());
                    }
                    let existing = st.socket(parts.nsp);
                    drop(st);
                    self.dispatch_to(
                        conn,
                        parts.kind,
                        parts.nsp,
                        parts.id,
                        parts.event,
                        parts.data,
                        existing,
                    );
                    return Ok(());
                }
            }
        };
        self.dispatch(conn, packet.kind, &packet.nsp, packet.id, packet.data);
        Ok(())
    }

    fn dispatch(
        &self,
        conn: &Arc<Conn>,
        kind: PacketKind,
        nsp: &str,
        id: Option<u64>,
        data: Option<Value>,
    ) {
        let existing = conn.data().socket(nsp);
        self.dispatch_to(conn, kind, nsp, id, None, data, existing);
    }

    /// Dispatches a packet for `nsp`, whose socket on this connection (if
    /// any) is `existing`. `event`: an EVENT's name when the decoder kept it
    /// out of `data` ([`protocol::Parts`]).
    #[allow(clippy::too_many_arguments)]
    fn dispatch_to(
        &self,
        conn: &Arc<Conn>,
        kind: PacketKind,
        nsp: &str,
        id: Option<u64>,
        event: Option<&str>,
        data: Option<Value>,
        existing: Option<Socket>,
    ) {
        match (kind, existing) {
            (PacketKind::Connect, None) => self.connect(conn, nsp, data),
            (PacketKind::Event, Some(s)) => self.on_event(s, id, event, data),
            (PacketKind::Ack, Some(s)) => {
                let args = match data {
                    Some(Value::Array(a)) => a,
                    _ => Vec::new(),
                };
                if let Some(id) = id {
                    s.on_ack(id, args);
                }
            }
            (PacketKind::Disconnect, Some(s)) => {
                detach(&s);
                s.closed(DisconnectReason::ClientNamespaceDisconnect);
            }
            (kind, s) => {
                // As Node: a packet for a namespace the client is not in, a
                // second CONNECT, or a CONNECT_ERROR from a client closes the connection.
                crate::stats::Counters::bump(&self.io.stats.packets_out_of_order);
                tracing::debug!(
                    sid = conn.id().as_str(),
                    ?kind,
                    nsp,
                    connected = s.is_some(),
                    "packet in an invalid state: closing"
                );
                conn.close(sockio_engine::DisconnectReason::ParseError);
            }
        }
    }

    fn connect(&self, conn: &Arc<Conn>, nsp: &str, auth: Option<Value>) {
        let v3 = conn.protocol() == ProtocolVersion::V3;
        let too_many = {
            let st = conn.data().state.lock().unwrap();
            st.sockets.len() >= self.io.config.max_namespaces_per_connection
        };
        if too_many {
            tracing::debug!(
                sid = conn.id().as_str(),
                nsp,
                "too many namespaces on one connection: refused"
            );
            crate::stats::Counters::bump(&self.io.stats.connect_refused_too_many_namespaces);
            let data = if v3 {
                Value::from("too many namespaces")
            } else {
                crate::value!({"message": "too many namespaces"})
            };
            let _ = conn.send_many(self.io.encode(&Packet::connect_error(nsp, data)).to_vec());
            return;
        }
        let Some(ns) = self.io.get_or_create_ns(nsp) else {
            crate::stats::Counters::bump(&self.io.stats.connect_refused_invalid_namespace);
            let data = if v3 {
                Value::from("Invalid namespace")
            } else {
                crate::value!({"message": "Invalid namespace"})
            };
            let packet = Packet::connect_error(nsp, data);
            let _ = conn.send_many(self.io.encode(&packet).to_vec());
            return;
        };
        // Connection state recovery: a client coming back presents its
        // private id and the offset of the last event it got.
        let resume = match (&ns.recovery, &auth) {
            (Some(_), Some(a)) if !v3 => match (a.get("pid"), a.get("offset")) {
                (Some(Value::String(pid)), Some(Value::String(offset))) => {
                    Some((pid.clone(), offset.clone()))
                }
                _ => None,
            },
            _ => None,
        };
        let io = self.io.clone();
        let conn = conn.clone();
        match resume {
            None => open_socket(&io, &conn, &ns, auth, None),
            Some((pid, offset)) => run_now_or_spawn(Box::pin(async move {
                let local = ns.local();
                let restored = match ns.adapter().restore_session(&local, &pid, &offset).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(ns = %ns.name, "cannot restore the session: {e}");
                        None
                    }
                };
                if !conn.is_closed() {
                    open_socket(&io, &conn, &ns, auth, restored);
                }
            })),
        }
    }

    fn on_event(
        &self,
        socket: Socket,
        ack_id: Option<u64>,
        name: Option<&str>,
        data: Option<Value>,
    ) {
        let mut args = match data {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        let owned;
        let event: &str = match name {
            Some(name) => name,
            None => {
                // The decoder guarantees a string first; take it without copying.
                owned = match (!args.is_empty()).then(|| args.remove(0)) {
                    Some(Value::String(s)) => s,
                    _ => String::new(),
                };
                &owned
            }
        };
        if let Some(a) = &socket.0.ns.admin {
            a.event_received(socket.namespace(), socket.id(), event, &args);
        }
        let Some((handler, name)) =
            crate::ns::event_handler(&socket.0.ns.handlers, &self.io.all, event)
        else {
            // As Node and python-socketio: no answer (the client's ack, if it
            // asked for one, times out).
            tracing::debug!(sid = %socket.id(), %event, "no handler for event: ignored");
            crate::stats::Counters::bump(&self.io.stats.events_unhandled);
            return;
        };
        let mut ctx = Context::new(socket.clone());
        ctx.args = args;
        ctx.event = Some(name.unwrap_or_else(|| Arc::from(event)));
        ctx.ack_id = ack_id;
        let kind = CompletionKind {
            for_error_handler: false,
            started: self.io.traffic.as_ref().map(|_| std::time::Instant::now()),
        };
        let started = handler(ctx, kind);
        let job: crate::handler::BoxFuture<()> = match started {
            Ok(job) => job,
            Err((reason, done)) => Box::pin(done.fail(HandlerErrorKind::BadArguments(reason))),
        };
        socket.run_job(job, !self.io.config.async_handlers);
    }
}

/// Creates the socket of a CONNECT (with the state of a recovered one),
/// runs the middlewares and the connect handler, and answers.
fn open_socket(
    io: &Arc<IoInner>,
    conn: &Arc<Conn>,
    ns: &Arc<crate::ns::NsInner>,
    auth: Option<Value>,
    restored: Option<crate::SessionState>,
) {
    let v3 = conn.protocol() == ProtocolVersion::V3;
    let nsp = &*ns.name;
    let recovered = restored.is_some();
    let (id, pid) = match &restored {
        Some(r) => (r.id.clone(), Some(r.pid.clone())),
        None if v3 => {
            let id = if nsp == "/" {
                SocketId::new(conn.id().as_str())
            } else {
                SocketId::new(&format!("{nsp}#{}", conn.id().as_str()))
            };
            (id, None)
        }
        None => (
            SocketId::new(&crate::util::random_id()),
            ns.recovery.as_ref().map(|_| crate::util::random_id()),
        ),
    };
    let socket = Socket::new(
        id.clone(),
        ns.clone(),
        conn.clone(),
        auth.clone(),
        pid,
        recovered,
    );
    {
        let mut st = conn.data().state.lock().unwrap();
        st.sockets.push((ns.name.clone(), socket.clone()));
        st.ever_connected = true;
    }
    ns.sockets
        .write()
        .unwrap()
        .insert(id.clone(), socket.clone());
    socket.join(id.room());
    let mut missed = Vec::new();
    if let Some(r) = restored {
        socket.join(r.rooms);
        if let Value::Object(m) = r.data {
            for (k, v) in m {
                socket.session().insert_value(&k, v);
            }
        }
        missed = r.missed;
        tracing::debug!(sid = %id, ns = %ns.name, missed = missed.len(), "session recovered");
    }

    let handlers = ns.handlers.clone();
    let skip_middlewares = recovered
        && ns
            .recovery
            .as_ref()
            .is_some_and(|r| r.config().skip_middlewares);
    let steps: Vec<_> = {
        let all = &io.all;
        let mut v = Vec::new();
        if !skip_middlewares {
            v.extend(all.middlewares.read().unwrap().iter().cloned());
            v.extend(handlers.middlewares.read().unwrap().iter().cloned());
        }
        v.extend(
            handlers
                .connect
                .read()
                .unwrap()
                .clone()
                .or_else(|| all.connect.read().unwrap().clone()),
        );
        v
    };
    let io = io.clone();
    let job = async move {
        #[cfg(feature = "tower-sessions")]
        if let (Some(h), false) = (&io.http_sessions, recovered) {
            h.copy_into(&socket).await;
        }
        let mut verdict = Ok(());
        for step in steps {
            let mut ctx = Context::new(socket.clone());
            ctx.auth = auth.clone();
            let r = match step(&mut ctx) {
                Ok(fut) => match std::panic::AssertUnwindSafe(fut).catch_unwind().await {
                    Ok(r) => r,
                    Err(p) => Err(crate::ConnectError::new(format!(
                        "connect handler panicked: {}",
                        panic_message(&p)
                    ))),
                },
                Err(e) => Err(crate::ConnectError::new(e)),
            };
            if let Err(e) = r {
                verdict = Err(e);
                break;
            }
        }
        match verdict {
            Ok(()) => {
                let data = (!v3).then(|| {
                    let mut d = crate::value!({"sid": socket.id().as_str()});
                    if let Some(pid) = socket.pid() {
                        d.insert("pid", pid);
                    }
                    d
                });
                socket.confirm(&Packet::connect(&*socket.0.ns.name, data));
                if let Some(a) = &socket.0.ns.admin {
                    a.socket_connected(&socket);
                }
                let nsp = crate::util::wire_nsp(socket.namespace());
                for data in missed {
                    let packet = Packet {
                        kind: PacketKind::Event,
                        nsp: nsp.clone(),
                        id: None,
                        data: Some(Value::Array(data)),
                    };
                    let _ = socket.send_packet(&packet);
                }
            }
            Err(e) => {
                tracing::debug!(ns = %socket.0.ns.name, "connection refused: {e}");
                crate::stats::Counters::bump(&io.stats.connect_refused_by_handler);
                let data = if v3 {
                    Value::from(e.message())
                } else {
                    let mut m = crate::value!({"message": e.message()});
                    if let Some(d) = e.data() {
                        m.insert("data", d.clone());
                    }
                    m
                };
                detach(&socket);
                socket.closed(DisconnectReason::ServerNamespaceDisconnect);
                let packet = Packet::connect_error(&*socket.0.ns.name, data);
                let _ = socket.0.conn.send_many(io.encode(&packet).to_vec());
            }
        }
    };
    run_now_or_spawn(Box::pin(job));
}

impl Completion {
    /// Sends the acknowledgement; on an error, returns the job that runs the
    /// error handler (the namespace's, else the default one, else
    /// `{"error": message}` as the ack). Synchronous and the error path
    /// boxed, so every handler's future stays small.
    pub(crate) fn finish(
        self,
        result: Result<Vec<Value>, HandlerErrorKind>,
    ) -> Option<crate::handler::BoxFuture<()>> {
        if let (Some(t), Some(started)) = (&self.socket.0.ns.traffic, self.started) {
            t.handler_ran(started.elapsed());
        }
        match result {
            Ok(args) => {
                // A handler that took the AckSender answers through it.
                if let (Some(id), None) = (self.ack_id, &self.ack_claim) {
                    let _ = self.socket.send_ack(id, args);
                }
                None
            }
            Err(kind) => Some(Box::pin(self.fail(kind))),
        }
    }

    async fn fail(self, kind: HandlerErrorKind) {
        let s = &self.socket;
        let err = HandlerError {
            event: self.event.to_string(),
            kind,
        };
        if self.for_error_handler {
            tracing::error!(sid = %s.id(), "error handler failed: {err}");
            return;
        }
        let io = s.io_inner();
        crate::stats::Counters::bump(&io.stats.handler_failures);
        if matches!(err.kind, HandlerErrorKind::Panicked(_)) {
            crate::stats::Counters::bump(&io.stats.handler_panics);
        }
        // The error handler's value is the ack, unless the handler already
        // sent it through its AckSender (from now on, that one is refused).
        let ack_id = match &self.ack_claim {
            Some(claim) if claim.swap(true, std::sync::atomic::Ordering::AcqRel) => None,
            _ => self.ack_id,
        };
        let h = crate::ns::error_handler(&s.0.ns.handlers, &io);
        let Some(h) = h else {
            tracing::warn!(sid = %s.id(), ns = %s.namespace(), "event handler failed: {err}");
            if let Some(id) = ack_id {
                let _ = s.send_ack(id, vec![crate::value!({"error": err.message()})]);
            }
            return;
        };
        let mut ctx = Context::new(s.clone());
        ctx.event = Some(self.event.clone());
        ctx.ack_id = ack_id;
        let msg = err.message();
        ctx.error = Some(err);
        let kind = CompletionKind {
            for_error_handler: true,
            started: None,
        };
        match h(ctx, kind) {
            Ok(fut) => fut.await,
            Err((e, _)) => tracing::error!("error handler arguments: {e} (while handling: {msg})"),
        }
    }
}

// CONNECT whose auth is not an object (python-socketio sends any JSON value,
// e.g. `40/private,"secret"`). The parsers refuse it as Node's do (and Node
// then closes the connection), but the contract wants the namespace's rules
// to see it and refuse with CONNECT_ERROR (`INTEROP-SERVER.md`: "missing
// auth, wrong token, non-object auth"): decode the packet without its data,
// and the data on its own.

fn is_connect_payload_error(e: &protocol::ProtocolError) -> bool {
    matches!(
        e,
        protocol::ProtocolError::InvalidPayload {
            kind: PacketKind::Connect,
            ..
        }
    )
}

fn json_connect_with_any_auth(
    text: &str,
    rev: Revision,
    limits: &protocol::Limits,
) -> Option<Packet> {
    // `0` then an optional `/nsp,`, then the data.
    let split = match text.get(1..2) {
        Some("/") => text.find(',')? + 1,
        _ => 1,
    };
    let (head, data) = text.split_at(split);
    let Ok(Decoded::Complete(mut p)) = protocol::decode_json(head, rev, limits) else {
        return None;
    };
    // The data alone, parsed as the one argument of an ACK (same parser, limits).
    let nsp_part = &head[1..];
    let Ok(Decoded::Complete(ack)) =
        protocol::decode_json(&format!("3{nsp_part}0[{data}]"), rev, limits)
    else {
        return None;
    };
    let [auth] = <[Value; 1]>::try_from(ack.into_args()).ok()?;
    p.data = Some(auth);
    Some(p)
}

fn msgpack_connect_with_any_auth(bytes: &[u8], limits: &protocol::Limits) -> Option<Packet> {
    protocol::decode_msgpack_with(bytes, limits, false).ok()
}
