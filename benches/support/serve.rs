//! `sessctl serve` for a benchmark: started on an ephemeral loopback port, killed when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `sessctl serve` with `command` (the binary and its environment) and waits for the
/// line that says where it listens.
pub fn serve(mut command: Command) -> anyhow::Result<Server> {
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    let stderr = child.stderr.take();
    // Killed on every way out, the early ones included.
    let mut server = Server {
        child,
        base: String::new(),
    };
    BufReader::new(stderr.ok_or_else(|| anyhow::anyhow!("no stderr"))?).read_line(&mut line)?;
    // It names itself sessctl.localhost, which not every resolver knows; it serves its
    // address too.
    server.base = line
        .strip_prefix("sessctl: dashboard on http://sessctl.localhost:")
        .and_then(|rest| rest.split('/').next())
        .map(|port| format!("http://127.0.0.1:{port}"))
        .ok_or_else(|| anyhow::anyhow!("the server did not start: {line}"))?;
    Ok(server)
}
