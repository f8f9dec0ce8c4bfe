//! The query layer: read-only reports as public `Serialize` types, for the CLI and any server.
//! No query takes a product lock, writes a file (but the one-time log of a loss it notices,
//! see `lifecycle::observe`) or reads a whole transcript.
//!
//! May import: `lifecycle` (its lock-free readings only: `observe`, `guard::remembered`,
//! `unit_file`), the adapters, and the data and base modules.

pub mod dashboard;
pub mod doctor;
pub mod log;
pub mod status;
pub mod transcript;
