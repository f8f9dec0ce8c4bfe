//! What sessctl remembers about a product between calls, in its state directory
//! (`paths::Paths::state_dir`, whose entries `paths::StateDir` names): one file per kind of
//! record, one module per file.
//!
//! A reader takes the product's state directory, never `(&Paths, product)`: the unit's host is
//! handed only that directory on its command line, and the CLI and the dashboard get it from
//! `Paths::state_dir`, so one signature serves both. A writer takes a right to write
//! ([`lock`]): the product's lock, held, or the unit's own claim. The product, where a record
//! needs it (the journal), is the directory's last component.
//!
//! Records layer. May import: `error`, `identity`, `paths`, `store`, `uuid`, and `journal`, where every
//! product event also goes.

mod events;
mod intent;
mod last_exit;
mod lock;
mod permission;
mod record;
mod time;
mod waiting;

pub use events::{append, append_or_warn, events, last_resume, Event, EventKind, EventVerdict};
pub use intent::{Action, Intent};
pub use last_exit::LastExit;
pub use lock::{Locked, UnitClaim, Writer};
pub use permission::{Asked, Behavior, Decision};
pub use record::{claim_loss, forget, load_record, remember, save_record, Record};
pub use time::rfc3339;
pub use waiting::Waiting;
