//! Waiting on observable state: bounded exponential backoff instead of fixed sleeps.
//!
//! A leaf of the base layer: imports nothing of sessctl.

use std::time::{Duration, Instant};

use anyhow::Result;

/// Calls `probe` until it returns `Some`, sleeping 2 ms, then twice as long each time (at most
/// 250 ms), for at most `timeout`; `None` when the time ran out. An error from `probe` ends
/// the wait at once.
pub fn until<T>(timeout: Duration, probe: impl FnMut() -> Result<Option<T>>) -> Result<Option<T>> {
    until_capped(timeout, Duration::from_millis(250), probe)
}

/// [`until`], sleeping at most `cap` between two probes, the first sleep included: for a wait
/// someone is waiting on (a start to attachable), where a probe that doubles its sleep past
/// the moment of readiness costs up to that long again.
pub fn until_capped<T>(
    timeout: Duration,
    cap: Duration,
    mut probe: impl FnMut() -> Result<Option<T>>,
) -> Result<Option<T>> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(2).min(cap);
    loop {
        if let Some(value) = probe()? {
            return Ok(Some(value));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(cap);
    }
}
