//! The query layer: read-only reports as public `Serialize` types, for the CLI and any server.
//! No query takes a lock or writes a file: a loss `status` sees is recorded by the next resume,
//! and state in the layout before 0.2 is moved by the next command that changes things
//! ([`old_layout`] only says it waits).
//!
//! Nor does a query read a whole transcript, with one exception written down here and in
//! `tests/it/architecture.rs`: `transcript::check`, which is `transcript check` itself and
//! reads the file once, streaming, in bounded memory.
//!
//! May import: of `lifecycle`, its lock-free readings only (`observe::identity_of`,
//! `observe::judge_loss`, `guard::remembered`, `intent`'s readings, `unit_file`'s rendering,
//! `target`), and the adapters, records and base modules.

pub mod dashboard;
pub mod doctor;
pub mod log;
pub mod names;
pub mod status;
pub mod transcript;
pub mod triage;

use anyhow::Result;

use crate::paths::Paths;

/// What waits in the layout before 0.2, if anything, as a note for a read-only command: its
/// reports read the new layout only.
pub fn old_layout(paths: &Paths) -> Result<Option<String>> {
    let old = paths.unmigrated()?;
    Ok((!old.is_empty()).then(|| {
        let mut names: Vec<&str> = old.iter().map(|(name, _)| name.as_str()).collect();
        names.sort_unstable();
        format!(
            "the state of {} is in the layout before 0.2 under {}, so this report leaves it out; the next command that changes things (`sessctl resume <product>`, `sessctl gc`) moves it",
            names.join(", "),
            paths.state_root().display()
        )
    }))
}
