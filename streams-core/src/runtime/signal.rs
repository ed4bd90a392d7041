//! [`ShutdownSignal`]: SIGTERM and SIGINT as a request to close the application cleanly,
//! for worker binaries (what a JVM shutdown hook calling `KafkaStreams.close()` does).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use signal_hook::SigId;

use super::KafkaStreams;
use crate::{Error, Result};

/// Catches SIGTERM and SIGINT from when it is installed until it is dropped: instead of
/// ending the process, they set a flag that [`wait`](Self::wait) returns on.
///
/// Install it first thing in `main`, so that a signal arriving while the instance starts
/// still leads to a clean close.
///
/// ```no_run
/// # use streams_core::{KafkaStreams, StreamsConfig, Topology};
/// # use streams_core::runtime::ShutdownSignal;
/// # fn run(topology: Topology, config: &StreamsConfig) -> streams_core::Result<()> {
/// let signal = ShutdownSignal::install()?;
/// let mut streams = KafkaStreams::new(topology, config)?;
/// streams.start()?;
/// signal.wait(&streams);
/// streams.close()
/// # }
/// ```
#[derive(Debug)]
pub struct ShutdownSignal {
    received: Arc<AtomicBool>,
    ids: Vec<SigId>,
}

impl ShutdownSignal {
    /// Starts catching SIGTERM and SIGINT.
    pub fn install() -> Result<Self> {
        let received = Arc::new(AtomicBool::new(false));
        let mut ids = Vec::new();
        for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            ids.push(
                signal_hook::flag::register(signal, received.clone())
                    .map_err(|e| Error::io("installing a signal handler", e))?,
            );
        }
        Ok(ShutdownSignal { received, ids })
    }

    /// Whether a signal came.
    pub fn received(&self) -> bool {
        self.received.load(Ordering::Acquire)
    }

    /// Blocks until a signal comes (`true`) or `streams` stops by itself, failed or closed
    /// (`false`).
    pub fn wait(&self, streams: &KafkaStreams) -> bool {
        while !self.received() {
            // The instance's state wakes this at once; the flag (set in a signal handler,
            // which cannot signal a condition variable) is looked at every 50 ms.
            if streams.wait_until_stopped(Duration::from_millis(50)) {
                return false;
            }
        }
        tracing::info!("shutdown signal received");
        true
    }
}

impl Drop for ShutdownSignal {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sigterm_sets_the_flag_instead_of_ending_the_process() {
        let signal = ShutdownSignal::install().expect("install");
        assert!(!signal.received());
        signal_hook::low_level::raise(signal_hook::consts::SIGTERM).expect("raise");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !signal.received() {
            assert!(
                std::time::Instant::now() < deadline,
                "the flag was never set"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
