//! The checkpoint file (Kafka Streams' `OffsetCheckpoint`: a version line, a count line, then
//! `topic partition offset` lines) on arbitrary bytes: parsed text must print back as text that
//! parses to the same offsets; and offsets derived from the input must survive being written
//! and read (the text `Checkpoint::write` writes, read as `Checkpoint::read` reads it; the
//! file itself is left out: a sync per input would slow the fuzzer a hundredfold).

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use streams_core::fuzzing::round_trip;
use streams_state::fuzzing::render_checkpoint;
use streams_state::{ChangelogOffsets, Checkpoint};

/// Offsets as a task writes them: changelog topic names (Kafka's legal characters, never
/// whitespace), any partition and offset.
fn offsets(u: &mut Unstructured<'_>) -> arbitrary::Result<ChangelogOffsets> {
    const LEGAL: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    let mut out = ChangelogOffsets::new();
    for _ in 0..u.int_in_range(0..=8)? {
        let len = u.int_in_range(1..=12)?;
        let topic: String = (0..len)
            .map(|_| u.choose(LEGAL).map(|&b| char::from(b)))
            .collect::<arbitrary::Result<_>>()?;
        out.insert((topic, i32::arbitrary(u)?), i64::arbitrary(u)?);
    }
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    match round_trip("checkpoint", data) {
        Some(Ok(_)) => {}
        Some(Err(why)) => panic!("checkpoint: {why}"),
        None => panic!("unknown target checkpoint"),
    }
    let Ok(offsets) = offsets(&mut Unstructured::new(data)) else {
        return;
    };
    let text = render_checkpoint(&offsets);
    assert_eq!(
        Checkpoint::parse_bytes(text.as_bytes()).ok().as_ref(),
        Some(&offsets),
        "{text:?}"
    );
});
