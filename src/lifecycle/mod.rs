//! The lifecycle layer: everything that changes a session, each under the product's lock, and
//! the readings that judge one.
//!
//! Locking. Every step that reads a session's identity to judge it, or changes the session
//! (enable, start, stop, restart, disable, attach's start, resume), holds the product's `flock`
//! (`$XDG_STATE_HOME/sessctl/locks/<product>.lock`) from its first reading to its last write.
//! So concurrent calls run one after another: twenty resumes of a stopped product find it
//! stopped exactly once, and the other nineteen find the session that one started; a resume
//! racing a stop or a restart judges a session no other sessctl call is changing. The kernel
//! drops a `flock` when its holder dies, so a resume killed mid-start leaves no stale lock; the
//! start job it issued belongs to systemd and completes or fails there, and the next call
//! judges what systemd then reports. Attaching happens after the lock is released, so a long
//! attach never blocks other calls; the judgement after it takes the lock again. The `query`
//! layer only reads, with [`observe`]'s lock-free readings: it never waits behind a start, and
//! the loss it sees is logged by the next resume, once (`state::claim_loss`).
//!
//! Every writer of a product's files is given that lock, as a value (`state::Locked`), but
//! two: `host`, which runs inside the unit and *is* the session (its waiting marks, last exit
//! and events are the session's own account, written with a `state::UnitClaim`), and
//! [`move_old_layout`], which has a lock of its own.
//!
//! May import: the adapters (`systemd`, `session`, `procfs`, `agent`) and the data modules
//! below them; never `cmd` or `query`.

pub(crate) mod control;
pub(crate) mod dashboard;
pub(crate) mod gc;
pub(crate) mod guard;
pub(crate) mod host;
pub(crate) mod intent;
pub mod observe;
pub(crate) mod permission;
pub(crate) mod resume;
pub(crate) mod roots;
pub(crate) mod start;
pub(crate) mod target;
pub(crate) mod terminal;
pub(crate) mod transcript;
pub(crate) mod unit_file;
pub(crate) mod verify;

use anyhow::Result;

use crate::paths::Paths;

/// Moves state left in the layout before 0.2 into `products/`: the first step of every command
/// that changes things (`Paths::migrate`), never of one that only reads.
pub fn move_old_layout(paths: &Paths) -> Result<()> {
    paths.migrate()
}
