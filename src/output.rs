//! sessctl's standard output: every line a command prints goes through here, so that a write
//! that fails is an error naming stdout instead of a panic. `main` turns a closed pipe
//! (`sessctl list | head -1`) into a quiet exit 0, as ripgrep does; any other failure, such as
//! a full disk behind `> /dev/full`, exits 1 with the reason.
//!
//! A leaf of the base layer: imports nothing of sessctl.

use std::fmt;
use std::io::Write;

use anyhow::{Context, Result};

/// Writes `args` to stdout, and a newline when `newline` is set.
pub fn write(args: fmt::Arguments, newline: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| out.flush())
        .context("writing to stdout")
}

/// Whether `err` is a write to a reader that went away.
pub fn is_closed_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `println!` that returns the write's error from the enclosing function.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::write(format_args!($($arg)*), true)?
    };
}

/// `print!` that returns the write's error from the enclosing function.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write(format_args!($($arg)*), false)?
    };
}

/// `Display` for closed sets whose one spelling is their `as_str`, and with `serialize`,
/// `Serialize` too: the text, the JSON and a test's list of names can never disagree.
macro_rules! spelled_as_str {
    ($($name:ty),+) => {$(
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )+};
    (serialize: $($name:ty),+) => {$(
        spelled_as_str!($name);
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    )+};
}

/// `eprintln!` that never panics: a diagnostic with nowhere to go (a closed stderr) is dropped,
/// since the operation it describes must not fail for it.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
