//! The exit-code contract, decided here and nowhere else: every code, every verdict and
//! severity that leads to one, and the error that carries a code through anyhow. No code
//! means two things. A leaf: imports nothing of sessctl.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success: the session survived or started, doctor found nothing, a transcript is clean |
//! | 1 | an operation failed (a systemd job, a file, tmux), or doctor could not run |
//! | 2 | invalid usage or input: a bad name, directory, command or flag, an unknown product, no terminal |
//! | 3 | the systemd user manager, or with --host the host, could not be reached |
//! | 4 | a session was lost: `resume`, `attach` or `verify` found it gone or replaced; `internal view` (another host's dashboard) found none to show |
//! | 5 | a conversation needs repair: the client cannot resume it (no transcript where one existed, an unreadable file, a shape the API refuses; `transcript check`'s errors) |
//! | 6 | a check found something to act on: doctor's errors and warnings, `transcript check`'s warnings |
//!
//! A closed stdout pipe is none of these failures: `main` exits 0 (see `output`).

use std::fmt;

use serde::{Deserialize, Serialize};

pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const NO_MANAGER: u8 = 3;
pub const LOST: u8 = 4;
pub const NEEDS_REPAIR: u8 = 5;
pub const FINDINGS: u8 = 6;

/// What happened to a session across a resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Same invocation, same main PID, same agent PID (each with the same start time).
    Survived,
    /// There was no session, and now there is one.
    Started,
    /// It was running, and now it is not or it is a different process.
    Lost,
    /// There is no session, and starting one would only run into a transcript that fails check.
    NeedsRepair,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Survived => "survived",
            Verdict::Started => "started",
            Verdict::Lost => "lost",
            Verdict::NeedsRepair => "needs-repair",
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Verdict::Survived | Verdict::Started => 0,
            Verdict::Lost => LOST,
            Verdict::NeedsRepair => NEEDS_REPAIR,
        }
    }
}

/// How bad a finding is, in doctor and in `transcript check`; the worst one decides the exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Doctor: it can kill or lose a session. A transcript: the resumed conversation fails or
    /// silently loses history.
    Error,
    /// Doctor: it can, under conditions named. A transcript: the client mends it when it
    /// loads, dropping what the detail names.
    Warning,
    /// Worth knowing; never changes the exit.
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// Doctor's exit code for its worst finding.
pub fn doctor_code(worst: Option<Severity>) -> u8 {
    match worst {
        Some(Severity::Error | Severity::Warning) => FINDINGS,
        Some(Severity::Note) | None => 0,
    }
}

/// `transcript check`'s exit code for its worst finding.
pub fn transcript_code(worst: Option<Severity>) -> u8 {
    match worst {
        Some(Severity::Error) => NEEDS_REPAIR,
        Some(Severity::Warning) => FINDINGS,
        Some(Severity::Note) | None => 0,
    }
}

/// The error for `code`, with nothing more to say: the command printed its story; success
/// when `code` is 0.
pub fn exit_with(code: u8) -> anyhow::Result<()> {
    match code {
        0 => Ok(()),
        code => Err(silent(code)),
    }
}

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

/// Something sessctl needs could not be reached (the user manager, another host): says what
/// and how to find out why, exits with [`NO_MANAGER`].
pub fn unreached(message: impl Into<String>) -> anyhow::Error {
    Exit {
        code: NO_MANAGER,
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
