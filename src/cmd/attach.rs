//! `sessctl attach`: starts the session if needed, then runs a tmux client that cannot start a
//! server of its own.

use std::path::Path;

use anyhow::Result;

use crate::error::usage;
use crate::paths::Paths;
use crate::product::{self, Product};
use crate::resume;
use crate::session;
use crate::store::Lock;
use crate::systemd::Systemd;
use crate::unit;

pub fn run(paths: &Paths, name: &str) -> Result<()> {
    product::check_name(name)?;
    let product = Product::load(paths, name)?;
    if !nix::unistd::isatty(std::io::stdin()).unwrap_or(false) {
        return Err(usage(format!(
            "sessctl attach needs a terminal on stdin; run it from an interactive shell, or use `sessctl start {name}` to start the session without attaching"
        )));
    }
    let socket = paths.socket(name)?;
    let tmux = Path::new(&product.tmux);
    {
        let systemd = Systemd::connect()?;
        let _lock = Lock::acquire(&paths.lock_file(name))?;
        let unit = unit::unit_name(name);
        let status = systemd.status(&unit)?;
        if !status.is_running() {
            resume::start_session(paths, &systemd, &product, &status)?;
            resume::observe(paths, &systemd, name, "start")?;
        }
    }
    session::wait_ready(tmux, &socket)?;
    session::attach(tmux, &socket)
}
