//! Changes that end, replace or remove a session record what they are about to do before
//! their first step (`state::Intent`), so that one killed midway is finished or settled by the
//! next call, and never taken for a loss. Field reports of SIGKILL at random points found an
//! interrupted stop, restart or disable reported by the next resume as a lost session, with
//! `sessctl enable` as the fix: advice that undid what the user had asked for.

use anyhow::Result;

use crate::error::usage;
use crate::paths::Paths;
use crate::procfs;
use crate::state::{self, Action, Event, EventKind, Intent, Locked, Writer};
use crate::store;

/// A change this process began, recorded until [`Change::end`] (or unrecorded, when the
/// state disk refused the record).
#[must_use = "a change ends with `Change::end`"]
pub struct Change {
    recorded: bool,
}

impl Change {
    /// The change is done: its intent goes. A change that fails keeps it, so the next call
    /// treats it as interrupted.
    pub fn end(self, lock: &Locked) -> Result<()> {
        Intent::end(lock)
    }

    /// Whether the change is recorded. One that is not was told so on stderr, with what
    /// else goes unrecorded: the session it leaves.
    pub fn recorded(&self) -> bool {
        self.recorded
    }
}

/// Under the product's lock: settles what an interrupted change left (see [`settle`]), then
/// records `next`.
///
/// A stop, restart or disable goes on when the state disk refuses the record (full, over
/// quota, read-only): ending or removing a session must work when nothing can be written.
/// It then says so in one line on stderr, forgets the remembered session first (a removal,
/// which a full disk allows), so that its end is never taken for a loss, and the command
/// exits as it would have (0 when the change succeeds). An enable, which writes the
/// product's files, fails instead.
pub fn begin(lock: &Locked, next: Action) -> Result<Change> {
    settle_for(lock, Some(next))?;
    let ticks = procfs::start_ticks(std::process::id());
    match Intent::begin(lock, next, ticks) {
        Ok(()) => Ok(Change { recorded: true }),
        Err(err) if next != Action::Enable && unwritable(&err) => {
            state::forget(lock)?;
            errln!(
                "sessctl: warning: the state disk refused a write, so `{}` goes on without a record of it or of the session it leaves: {err:#}",
                next.command(lock.name())
            );
            Ok(Change { recorded: false })
        }
        Err(err) => Err(err),
    }
}

/// Whether `err` is a write the disk refused: full, over quota or read-only.
pub fn unwritable(err: &anyhow::Error) -> bool {
    use std::io::ErrorKind;
    (err.chain())
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| {
            matches!(
                io.kind(),
                ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::ReadOnlyFilesystem
            )
        })
}

/// Under the product's lock, before a start or resume, which record nothing of their own:
/// settles what an interrupted change left.
pub fn settle(lock: &Locked) -> Result<()> {
    settle_for(lock, None)
}

/// What an interrupted change left, settled before `next` (none: a start or resume).
///
/// - An interrupted stop or restart did what the user asked, or never began: the session as
///   found now is the user's, so the remembered one is forgotten rather than reported lost.
/// - An interrupted disable stands until a disable finishes it or an enable takes it back; a
///   start, resume, stop or restart is refused (see [`refuse_undoing`]).
fn settle_for(lock: &Locked, next: Option<Action>) -> Result<()> {
    let product = lock.name();
    match Intent::load(lock.dir().0)?.map(|f| f.action) {
        Some(action @ (Action::Stop | Action::Restart)) => {
            state::forget(lock)?;
            Intent::end(lock)?;
            state::append(
                lock,
                &Event::new(EventKind::Settled, None).did(
                    "settled",
                    Some(&format!(
                        "`{}` was interrupted; the session as found now is not a loss",
                        action.command(product)
                    )),
                ),
            );
        }
        Some(action) if action.removes() => match next {
            Some(Action::Enable | Action::Disable | Action::Purge) => {}
            _ => return Err(usage(refusal(product, action))),
        },
        _ => {}
    }
    Ok(())
}

/// Before a start, resume, stop or restart, without the lock: refuses while a disable of
/// `product` is under way or was interrupted. Checked before the config is read, which a
/// purge may already have removed: "unknown product; create it with `sessctl enable`" would
/// be advice to undo what the user asked for.
pub fn refuse_undoing(paths: &Paths, product: &str) -> Result<()> {
    match Intent::load(&paths.state_dir(product))? {
        Some(found) if found.action.removes() => Err(usage(refusal(product, found.action))),
        _ => Ok(()),
    }
}

fn refusal(product: &str, action: Action) -> String {
    format!(
        "{product}: `{}` was interrupted; run it again to finish it",
        action.command(product)
    )
}

/// Without the lock: the change recorded for `product`, and whether its writer still runs
/// (the change is under way) or died (it was interrupted).
pub fn pending(paths: &Paths, product: &str) -> Result<Option<(Intent, bool)>> {
    Ok(Intent::load(&paths.state_dir(product))?.map(|intent| {
        let running = procfs::start_ticks(intent.pid) == intent.start_ticks;
        (intent, running)
    }))
}

/// Whether an asked-for end or removal of `product`'s session is recorded: then a session
/// that is gone or replaced is no loss.
pub fn ending(paths: &Paths, product: &str) -> Result<bool> {
    Ok(Intent::load(&paths.state_dir(product))?.is_some_and(|i| i.action != Action::Enable))
}

/// One line on a recorded change, for `status` and `doctor`.
pub fn describe(product: &str, intent: &Intent, running: bool) -> String {
    let command = intent.action.command(product);
    if running {
        format!(
            "`{command}` is under way (PID {}, since {})",
            intent.pid, intent.at
        )
    } else {
        format!(
            "`{command}` was interrupted at {}; running it again finishes it",
            intent.at
        )
    }
}

/// Every product whose last change was interrupted, with its intent.
pub fn interrupted(paths: &Paths) -> Result<Vec<(String, Intent)>> {
    (interrupted_each(paths)?.into_iter())
        .map(|(product, found)| Ok((product, found?)))
        .collect()
}

/// [`interrupted`], with a product whose record cannot be read named with the error rather
/// than failing the lot: one product's bad leftover hides no other product's.
pub fn interrupted_each(paths: &Paths) -> Result<Vec<(String, Result<Intent>)>> {
    let mut found = Vec::new();
    for entry in store::entries(&paths.products_state())? {
        let Some(product) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        match pending(paths, &product) {
            Ok(Some((intent, false))) => found.push((product, Ok(intent))),
            Ok(_) => {}
            Err(err) => found.push((product, Err(err))),
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}
