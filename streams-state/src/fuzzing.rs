//! The byte codecs of the stores, for fuzz targets and random-input tests (feature `fuzzing`,
//! off by default). Not part of the API: names and signatures change without notice.
//!
//! Everything here wraps a crate-private function without changing what it does, so a fuzz
//! target drives the code the stores run.

use crate::checkpoint::render;
use crate::segments::Segments;
use crate::{ChangelogOffsets, Result, session, window};

/// A window store's engine key (`segment | key | start | seq`), with the segments of a store
/// of `retention_ms`.
pub fn window_engine_key(retention_ms: i64, key: &[u8], start: i64, seq: u32) -> Vec<u8> {
    let mut out = Vec::new();
    window::write_engine_key(&mut out, &Segments::new(retention_ms), key, start, seq);
    out
}

/// The record key, window start and seq of a window store's engine key (`None`: not an entry).
pub fn split_window_engine_key(engine_key: &[u8]) -> Option<(&[u8], i64, u32)> {
    window::split_engine_key(engine_key)
}

/// The record key, window start and seq of a window store's changelog key
/// (`key | start | seq`).
pub fn parse_window_log_key(log_key: &[u8]) -> Result<(&[u8], i64, u32)> {
    window::parse_log_key("fuzz", log_key)
}

/// A session store's engine key (`segment(end) | key | end | start`), with the segments of a
/// store of `retention_ms`.
pub fn session_engine_key(retention_ms: i64, key: &[u8], start: i64, end: i64) -> Vec<u8> {
    let mut out = Vec::new();
    session::write_engine_key(&mut out, &Segments::new(retention_ms), key, start, end);
    out
}

/// The record key, start and end of a session store's engine key (`None`: not an entry).
pub fn split_session_engine_key(engine_key: &[u8]) -> Option<(&[u8], i64, i64)> {
    session::split_engine_key(engine_key)
}

/// The record key, start and end of a session store's changelog key (`key | end | start`).
pub fn parse_session_log_key(log_key: &[u8]) -> Result<(&[u8], i64, i64)> {
    session::parse_log_key("fuzz", log_key)
}

/// The changelog key a store logs for `engine_key`: the engine key without its segment.
pub fn log_key_of(engine_key: &[u8]) -> &[u8] {
    engine_key.get(8..).unwrap_or_default()
}

/// The checkpoint file's text for `offsets`, as [`Checkpoint::write`](crate::Checkpoint::write)
/// writes it.
pub fn render_checkpoint(offsets: &ChangelogOffsets) -> String {
    render(offsets)
}
