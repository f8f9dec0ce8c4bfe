//! Pseudo-terminals for the dashboard's live terminals: a program started on a new one as its
//! controlling terminal, so that a new size reaches it as SIGWINCH, and the size of the one a
//! process already has. Both the local tmux client (`session`) and ssh to another host's
//! (`remote`) run on one.
//!
//! A leaf of the base layer: imports nothing of sessctl.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};
use nix::pty::Winsize;

/// A terminal's size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub cols: u16,
    pub rows: u16,
}

/// A program on a pseudo-terminal of its own: its output is read, and keys written, through
/// `master`.
pub struct Viewer {
    pub master: OwnedFd,
    pub client: Child,
}

/// Starts `program` with `args` on a new pseudo-terminal of `size`, its stdin and stdout, with
/// `TERM=term` when given and the given `stderr`. `setsid --ctty` makes the terminal its
/// controlling one: without it no SIGWINCH would tell it of a [`resize`].
pub fn spawn(
    program: &OsStr,
    args: &[&OsStr],
    term: Option<&str>,
    stderr: Stdio,
    size: Size,
) -> Result<Viewer> {
    let (master, slave) = open(size).context("opening a pseudo-terminal")?;
    let slave = || slave.try_clone().context("sharing the pseudo-terminal");
    let mut command = Command::new("setsid");
    command.arg("--ctty").arg(program).args(args);
    if let Some(term) = term {
        command.env("TERM", term);
    }
    let client = command
        .stdin(slave()?)
        .stdout(slave()?)
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("running setsid {}", program.to_string_lossy()))?;
    Ok(Viewer { master, client })
}

/// A new pseudo-terminal of `size`: its master and slave, both closed on exec. Another
/// thread's child that inherited the slave would hold it open after the viewer's program
/// ended, and its master would never read the end (openpty(3) sets no close-on-exec).
fn open(size: Size) -> Result<(OwnedFd, OwnedFd)> {
    use nix::fcntl::OFlag;
    use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let master = posix_openpt(flags)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let path = ptsname_r(&master)?;
    let slave = nix::fcntl::open(path.as_str(), flags, nix::sys::stat::Mode::empty())?;
    let master = OwnedFd::from(master);
    resize(master.as_fd(), size)?;
    Ok((master, slave))
}

nix::ioctl_write_ptr_bad!(set_winsize, nix::libc::TIOCSWINSZ, Winsize);
nix::ioctl_read_bad!(get_winsize, nix::libc::TIOCGWINSZ, Winsize);

/// Gives a viewer's terminal a new size; the kernel tells its client with SIGWINCH.
pub fn resize(master: BorrowedFd<'_>, size: Size) -> Result<()> {
    // SAFETY: TIOCSWINSZ reads one `Winsize` through the pointer, which outlives the call, and
    // `master` is an open pseudo-terminal.
    unsafe { set_winsize(master.as_raw_fd(), &winsize(size)) }.context("resizing the terminal")?;
    Ok(())
}

/// The size of the terminal `fd` is on; `None` when it is not a terminal or has no size yet.
pub fn size_of(fd: BorrowedFd<'_>) -> Option<Size> {
    let mut size = winsize(Size { cols: 0, rows: 0 });
    // SAFETY: TIOCGWINSZ writes one `Winsize` through the pointer, which outlives the call; on
    // a descriptor that is no terminal it fails and writes nothing.
    unsafe { get_winsize(fd.as_raw_fd(), &mut size) }.ok()?;
    (size.ws_col > 0 && size.ws_row > 0).then_some(Size {
        cols: size.ws_col,
        rows: size.ws_row,
    })
}

fn winsize(size: Size) -> Winsize {
    Winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_program_on_a_pty_sees_its_size_and_a_new_one() {
        let size = Size { cols: 91, rows: 17 };
        let viewer = spawn(
            OsStr::new("sleep"),
            &[OsStr::new("5")],
            Some("dumb"),
            Stdio::null(),
            size,
        )
        .expect("sleep on a pty");
        let Viewer { master, mut client } = viewer;
        assert_eq!(size_of(master.as_fd()), Some(size));
        let bigger = Size {
            cols: 120,
            rows: 40,
        };
        resize(master.as_fd(), bigger).expect("resizing");
        assert_eq!(size_of(master.as_fd()), Some(bigger));
        client.kill().expect("ending sleep");
        client.wait().expect("reaping sleep");
    }

    #[test]
    fn a_pipe_has_no_size() {
        let (read, _write) = nix::unistd::pipe().expect("a pipe");
        assert_eq!(size_of(read.as_fd()), None);
    }
}
