//! The start slot: agents of different products start some seconds apart, so that a login or
//! a reboot that starts every product does not start every agent in the same instant (a fleet
//! of Claude Code sessions that starts at once refreshes the same OAuth token at once, and all
//! but one of them lose).
//!
//! One slot file per user, `$XDG_RUNTIME_DIR/sessctl/start-slot`, holds the recent agent
//! starts, one `<ms since the epoch> <product>` line each, the last one newest. The pane's
//! first process takes the file's lock, waits until the product's spacing has passed since the
//! last start (unless that was its own product's), appends its own start, and execs the agent:
//! the exec closes the lock, so the starts queue up one by one and each is recorded just before
//! it happens.
//!
//! Records layer. May import: `store`.

use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use crate::store::Lock;

/// The starts the slot file remembers: enough to show how a login's starts were spread.
const KEEP: usize = 64;

/// A start slot held until the process execs or exits.
pub struct Slot {
    _lock: Lock,
    /// How long the start waited for the slot.
    pub waited: Duration,
}

/// Waits for `product`'s start slot in `file`: `spacing` after the previous start of another
/// product's agent.
pub fn take(file: &Path, product: &str, spacing: Duration) -> Result<Slot> {
    let mut lock = Lock::acquire(file)?;
    let mut text = String::new();
    lock.file()
        .read_to_string(&mut text)
        .with_context(|| format!("reading the start slot {}", file.display()))?;
    let wait = match text.lines().last().and_then(parse) {
        Some((last, who)) if who != product => {
            Duration::from_millis(last.saturating_add(spacing.as_millis() as u64))
                .saturating_sub(since_epoch())
        }
        _ => Duration::ZERO,
    };
    std::thread::sleep(wait);
    let at_ms = since_epoch().as_millis() as u64;
    let kept = text.lines().count().saturating_sub(KEEP - 1);
    let mut history: String = text.lines().skip(kept).flat_map(|l| [l, "\n"]).collect();
    history.push_str(&format!("{at_ms} {product}\n"));
    let f = lock.file();
    f.set_len(0)
        .and_then(|()| f.rewind())
        .and_then(|()| f.write_all(history.as_bytes()))
        .with_context(|| format!("writing the start slot {}", file.display()))?;
    Ok(Slot {
        _lock: lock,
        waited: wait,
    })
}

/// One line, `<ms> <product>`; anything else is no start.
pub fn parse(line: &str) -> Option<(u64, &str)> {
    let (ms, product) = line.trim().split_once(' ')?;
    Some((ms.parse().ok()?, product))
}

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_products_start_is_waited_for_and_a_products_own_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("start-slot");
        let spacing = Duration::from_millis(300);
        let first = take(&file, "a", spacing).expect("first");
        assert_eq!(first.waited, Duration::ZERO);
        drop(first);
        let again = take(&file, "a", spacing).expect("same product");
        assert_eq!(
            again.waited,
            Duration::ZERO,
            "a product never waits for itself"
        );
        drop(again);
        drop(take(&file, "b", spacing).expect("other product"));
        let text = std::fs::read_to_string(&file).expect("slot file");
        let starts: Vec<(u64, &str)> = text.lines().filter_map(parse).collect();
        let who: Vec<&str> = starts.iter().map(|(_, p)| *p).collect();
        assert_eq!(who, ["a", "a", "b"]);
        assert!(starts[2].0 >= starts[1].0 + 300, "{starts:?}");
    }

    #[test]
    fn the_history_is_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("start-slot");
        for _ in 0..KEEP + 5 {
            drop(take(&file, "a", Duration::ZERO).expect("slot"));
        }
        let text = std::fs::read_to_string(&file).expect("slot file");
        assert_eq!(text.lines().count(), KEEP);
    }

    #[test]
    fn a_slot_file_that_is_not_a_start_is_no_start() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("garbage"), None);
        assert_eq!(parse("12 web\n"), Some((12, "web")));
    }
}
