//! Who may write a product's records: every writer of this module's files is given one of two
//! values, so a write without the right is a type error, not a review finding.
//!
//! - [`Locked`]: the product's lock, held. A sessctl call holds it from its first reading to
//!   its last write (the `lifecycle` header says why); what only such a call changes (the
//!   session record, the change under way, the config, a pin replaced) takes `&Locked`.
//! - [`UnitClaim`]: the unit's own processes. They cannot take the lock: `sessctl stop` holds
//!   it while the unit ends, which is when the unit writes its last exit. They are the session,
//!   and write only its own account (events, waiting marks, permission questions, its end,
//!   the first pin, which is link-or-fail, and snapshots of its own transcript). Only
//!   `lifecycle::host` makes one; the architecture test holds it to that.
//!
//! What both write takes any [`Writer`].
//!
//! May import: `paths`, `store`.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::paths::{Paths, ProductName, StateDir};
use crate::store;

/// A right to write one product's records, in its state directory.
pub trait Writer: sealed::Sealed {
    /// The product's state directory.
    fn dir(&self) -> StateDir<'_>;
}

mod sealed {
    /// Only this module's rights are rights.
    pub trait Sealed {}
    impl Sealed for super::Locked {}
    impl Sealed for super::UnitClaim {}
}

/// A product's lock (`locks/<product>.lock`), held until dropped.
pub struct Locked {
    name: ProductName,
    dir: PathBuf,
    file: PathBuf,
    _flock: store::Lock,
}

impl Locked {
    /// Waits for `name`'s lock and takes it.
    pub fn acquire(paths: &Paths, name: &ProductName) -> Result<Locked> {
        let file = paths.lock_file(name);
        Ok(Locked {
            _flock: store::Lock::acquire(&file)?,
            name: name.clone(),
            dir: paths.state_dir(name),
            file,
        })
    }

    pub fn name(&self) -> &ProductName {
        &self.name
    }

    /// Removes the lock's file while it is held, for a product that goes for good: a waiter
    /// then finds the file it locked unlinked and locks the one at the path anew
    /// (`store::Lock::acquire`), so it never works under a lock that guards nothing.
    pub fn unlink(&self) -> Result<()> {
        store::remove_file(&self.file)
    }
}

impl Writer for Locked {
    fn dir(&self) -> StateDir<'_> {
        StateDir(&self.dir)
    }
}

/// The right of the unit's own processes (its host, pane and hooks) to write their session's
/// account, in the state directory named on their command line.
pub struct UnitClaim {
    dir: PathBuf,
}

impl UnitClaim {
    pub fn new(dir: &Path) -> UnitClaim {
        UnitClaim {
            dir: dir.to_path_buf(),
        }
    }
}

impl Writer for UnitClaim {
    fn dir(&self) -> StateDir<'_> {
        StateDir(&self.dir)
    }
}
