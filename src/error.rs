//! The exit-code contract and the error that carries a code through anyhow.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | an operation failed (a systemd job, a file, tmux) |
//! | 2 | invalid usage or input: a bad name, directory, command or flag, an unknown product, no terminal |
//! | 3 | the systemd user manager could not be reached |
//! | 4 | a session was lost: `resume` or `verify` found it gone or replaced |
//! | 5 | a session needs repair: the client cannot resume its conversation (no transcript where one existed, an unreadable file, or a shape the API refuses) |//!
//! A closed stdout pipe is none of these failures: `main` exits 0 (see `output`).

use std::fmt;

pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const NO_MANAGER: u8 = 3;
pub const LOST: u8 = 4;
pub const NEEDS_REPAIR: u8 = 5;

/// An error with a deliberate exit code. Anything else that reaches `main` exits with
/// [`FAILURE`].
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// Bad input: says what was wrong and how to fix it, exits with [`USAGE`].
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Exit {
        code: USAGE,
        message: message.into(),
    }
    .into()
}

/// An exit with `code` whose story the command already printed.
pub fn silent(code: u8) -> anyhow::Error {
    Exit {
        code,
        message: String::new(),
    }
    .into()
}

/// The exit code for `err`: the first [`Exit`] in its chain, else [`FAILURE`].
pub fn code_of(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(|cause| cause.downcast_ref::<Exit>())
        .map_or(FAILURE, |exit| exit.code)
}

/// The longest prefix of a value an error message quotes: enough to recognise it.
const QUOTE_CHARS: usize = 48;

/// `value` as an error message quotes it: escaped (`{:?}`), and cut to its first characters
/// with its length said when it is long, so a 100 KB argument never becomes a 100 KB line.
pub fn quoted(value: &str) -> String {
    match value.char_indices().nth(QUOTE_CHARS) {
        None => format!("{value:?}"),
        Some((end, _)) => format!("{:?}... ({} bytes)", &value[..end], value.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_value_is_quoted_as_a_short_escaped_prefix() {
        assert_eq!(quoted("web\n"), r#""web\n""#);
        let long = format!("K={}\n", "x".repeat(100_000));
        let q = quoted(&long);
        assert_eq!(q, format!("{:?}... (100003 bytes)", &long[..48]));
    }
}
