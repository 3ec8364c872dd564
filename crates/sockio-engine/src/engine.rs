//! STUB: the engine, its tower service and layer.
use std::sync::Arc;

use crate::{EngineConfig, EngineHandler};

/// An Engine.IO server: session table, options, handler.
pub struct Engine<H: EngineHandler> {
    handler: H,
    config: EngineConfig,
}

impl<H: EngineHandler> Engine<H> {
    /// Creates an engine.
    pub fn new(config: EngineConfig, handler: H) -> Arc<Self> {
        Arc::new(Engine { handler, config })
    }
}

/// Tower layer.
pub struct EngineLayer<H: EngineHandler>(Arc<Engine<H>>);
/// Tower service.
pub struct EngineService<H: EngineHandler, S>(Arc<Engine<H>>, S);
