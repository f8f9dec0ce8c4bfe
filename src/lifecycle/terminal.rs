//! A live terminal on a product's session, for the dashboard: a tmux client of the product's
//! own server, read-only unless typing is asked for, and the pane's history to show above the
//! client's first screen; and the same on this process's own terminal, which another host's
//! dashboard shows through ssh. It takes no lock: like `attach`, a viewer holds nothing any
//! other call waits for, and it can never start a session (tmux -N).

use std::convert::Infallible;
use std::os::fd::AsFd;
use std::path::PathBuf;

use anyhow::Result;

use crate::paths::Paths;
use crate::product::{Product, ProductName};
use crate::pty;
use crate::session;
pub use crate::session::{resize, Size, Viewer};

/// What a viewer finds.
pub enum Opened {
    /// A client of the running session, and what to write before its output: the pane's
    /// history, then enough line feeds to scroll all of it off a terminal of the viewer's
    /// size, so that the client's first screen (which clears the screen) erases none of it.
    Running { viewer: Viewer, history: Vec<u8> },
    /// No session runs: nothing to show, and nothing tmux would say about it.
    NotRunning,
}

/// A viewer of product `name`'s session, `write` when its keys are to reach the agent.
pub fn open(paths: &Paths, name: &ProductName, write: bool, size: Size) -> Result<Opened> {
    let Some(here) = running(paths, name, size)? else {
        return Ok(Opened::NotRunning);
    };
    // The session may end between these calls: then its client ends at once, and the
    // browser hears that it ended.
    let viewer = session::viewer(&here.tmux, &here.socket, write, size)?;
    Ok(Opened::Running {
        viewer,
        history: here.history,
    })
}

/// A running session to show on this process's own terminal, and what to write first.
pub struct Here {
    tmux: PathBuf,
    socket: PathBuf,
    /// As [`Opened::Running`]'s, for this terminal's size.
    pub history: Vec<u8>,
}

/// Product `name`'s running session for this process's terminal (stdout); `None` when none
/// runs.
pub fn here(paths: &Paths, name: &ProductName) -> Result<Option<Here>> {
    // Without a size (not a terminal) the history is shaped for a common one.
    let size = pty::size_of(std::io::stdout().as_fd()).unwrap_or(Size { cols: 80, rows: 24 });
    running(paths, name, size)
}

/// Product `name`'s running session, its history shaped for `size`; `None` when none runs.
fn running(paths: &Paths, name: &ProductName, size: Size) -> Result<Option<Here>> {
    let product = Product::load(paths, name)?;
    let socket = paths.socket(name)?;
    let tmux = PathBuf::from(&product.tmux);
    if !session::has_session(&tmux, &socket)? {
        return Ok(None);
    }
    let lines = session::history(&tmux, &socket).unwrap_or_default();
    Ok(Some(Here {
        history: scrolled_off(&lines, size),
        tmux,
        socket,
    }))
}

impl Here {
    /// Becomes its tmux client, read-only unless `write`; returns only on failure.
    pub fn show(self, write: bool) -> Result<Infallible> {
        session::view_here(&self.tmux, &self.socket, write)
    }
}

/// `lines` (the pane's history, one line per `\n`) as a terminal of `size` takes them: each
/// line ends with CR LF, the colours are reset after the last, and `rows - 1` more line feeds
/// leave every history line above the screen.
fn scrolled_off(lines: &[u8], size: Size) -> Vec<u8> {
    if lines.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(lines.len() + lines.len() / 32 + usize::from(size.rows) * 2);
    for line in lines.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(line.strip_suffix(b"\n").unwrap_or(line));
        out.extend_from_slice(b"\x1b[0m\r\n");
    }
    for _ in 1..size.rows {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_ends_above_the_screen() {
        let size = Size { cols: 80, rows: 3 };
        assert_eq!(
            scrolled_off(b"one\n\x1b[31mtwo\n", size),
            b"one\x1b[0m\r\n\x1b[31mtwo\x1b[0m\r\n\r\n\r\n".to_vec()
        );
        assert!(scrolled_off(b"", size).is_empty());
    }
}
