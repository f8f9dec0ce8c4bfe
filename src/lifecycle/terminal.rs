//! A live terminal on a product's session, for the dashboard: a tmux client of the product's
//! own server, read-only unless typing is asked for, and the pane's history to show above the
//! client's first screen. It takes no lock: like `attach`, a viewer holds nothing any other
//! call waits for, and it can never start a session (tmux -N).

use std::path::Path;

use anyhow::Result;

use crate::paths::Paths;
use crate::product::{Product, ProductName};
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
    let product = Product::load(paths, name)?;
    let socket = paths.socket(name)?;
    let tmux = Path::new(&product.tmux);
    if !session::has_session(tmux, &socket)? {
        return Ok(Opened::NotRunning);
    }
    // The session may end between these calls: then its client ends at once, and the
    // browser hears that it ended.
    let lines = session::history(tmux, &socket).unwrap_or_default();
    let viewer = session::viewer(tmux, &socket, write, size)?;
    Ok(Opened::Running {
        viewer,
        history: scrolled_off(&lines, size),
    })
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
