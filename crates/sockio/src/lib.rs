//! # sockio
//!
//! Socket.IO for Rust with the ease of Flask-SocketIO.
#![deny(missing_docs)]

pub mod protocol;
