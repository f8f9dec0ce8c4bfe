//! What the dashboard's notifier reads beyond the list's reports: whether a failed unit was
//! stopped by systemd's start limit, the end of a crash loop.

use anyhow::Result;

use crate::systemd::{ServiceResult, Systemd};

/// Whether systemd stopped `unit` for starting too often (its result is `start-limit-hit`).
pub fn start_limit_hit(systemd: &Systemd, unit: &str) -> Result<bool> {
    Ok(systemd.details(unit)?.result == ServiceResult::StartLimitHit)
}
