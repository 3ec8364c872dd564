//! Socket.IO packets and their codecs (protocol v5, and v4 for Engine.IO v3
//! clients): pure functions over bytes, no I/O.
//!
//! CONTRACT (relied on by the rest of the crate): see the module docs of each item.
