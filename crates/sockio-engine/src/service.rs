//! The tower plumbing: [`EngineLayer`], [`EngineService`], [`NotFound`] and the
//! response body [`ResponseBody`]. Requests for the engine's path go to the
//! engine; every other request goes to the inner service untouched.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::FutureExt;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;

use crate::http_util::BoxError;
use crate::{Engine, EngineHandler};

/// Tower layer putting an engine in front of a service (e.g. an axum `Router`
/// with `Router::layer`). Layers of several engines on different paths stack.
pub struct EngineLayer<H: EngineHandler> {
    engine: Arc<Engine<H>>,
}

impl<H: EngineHandler> EngineLayer<H> {
    pub(crate) fn new(engine: Arc<Engine<H>>) -> Self {
        EngineLayer { engine }
    }
}

impl<H: EngineHandler> Clone for EngineLayer<H> {
    fn clone(&self) -> Self {
        EngineLayer {
            engine: self.engine.clone(),
        }
    }
}

impl<H: EngineHandler, S> tower_layer::Layer<S> for EngineLayer<H> {
    type Service = EngineService<H, S>;
    fn layer(&self, inner: S) -> Self::Service {
        EngineService::new(self.engine.clone(), inner)
    }
}

/// Tower service: the engine for its path, `S` for the others.
///
/// Serves any request body `B: http_body::Body<Data = Bytes>`. WebSocket
/// requests need hyper's upgrade support on the connection (e.g.
/// `http1::Builder::serve_connection(..).with_upgrades()`).
pub struct EngineService<H: EngineHandler, S> {
    engine: Arc<Engine<H>>,
    inner: S,
}

impl<H: EngineHandler, S> EngineService<H, S> {
    pub(crate) fn new(engine: Arc<Engine<H>>, inner: S) -> Self {
        EngineService { engine, inner }
    }
    /// The engine.
    pub fn engine(&self) -> &Arc<Engine<H>> {
        &self.engine
    }
}

impl<H: EngineHandler, S: Clone> Clone for EngineService<H, S> {
    fn clone(&self) -> Self {
        EngineService {
            engine: self.engine.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<H: EngineHandler, S> std::fmt::Debug for EngineService<H, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineService")
            .field("path", &self.engine.config().path)
            .finish_non_exhaustive()
    }
}

fn is_engine_path(engine_path: &str, path: &str) -> bool {
    path.starts_with(engine_path) || Some(path) == engine_path.strip_suffix('/')
}

impl<H, S, B, ResB> tower_service::Service<Request<B>> for EngineService<H, S>
where
    H: EngineHandler,
    S: tower_service::Service<Request<B>, Response = Response<ResB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResB: Send + 'static,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if !is_engine_path(&self.engine.config().path, req.uri().path()) {
            let fut = self.inner.call(req);
            return Box::pin(async move { Ok(fut.await?.map(ResponseBody::inner)) });
        }
        // `map`, not an `async` block around it: a block would hold the
        // request next to the future that owns it (the box is moved whole).
        Box::pin(
            self.engine
                .clone()
                .handle(req)
                .map(|r| Ok(r.map(ResponseBody::engine))),
        )
    }
}

/// A service answering 404 to everything: the inner service of
/// [`Engine::service`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NotFound;

impl<B> tower_service::Service<Request<B>> for NotFound {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_FOUND;
        std::future::ready(Ok(r))
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Engine { #[pin] body: Full<Bytes> },
        Inner { #[pin] body: B },
    }
}

pin_project_lite::pin_project! {
    /// The response body of [`EngineService`]: the engine's own body or the
    /// inner service's.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

impl<B> ResponseBody<B> {
    fn engine(body: Full<Bytes>) -> Self {
        ResponseBody {
            kind: Kind::Engine { body },
        }
    }
    fn inner(body: B) -> Self {
        ResponseBody {
            kind: Kind::Inner { body },
        }
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.kind {
            Kind::Engine { .. } => "ResponseBody::Engine",
            Kind::Inner { .. } => "ResponseBody::Inner",
        })
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::Engine { body } => body.poll_frame(cx).map_err(|e| match e {}),
            KindProj::Inner { body } => body.poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Engine { body } => body.is_end_stream(),
            Kind::Inner { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Engine { body } => body.size_hint(),
            Kind::Inner { body } => body.size_hint(),
        }
    }
}
