//! `sessctl serve`: the dashboard's server, until SIGTERM.

use anyhow::Result;

use crate::cli::Serve;
use crate::lifecycle::dashboard::Tls;
use crate::paths::Paths;
use crate::server;

pub fn run(paths: Paths, args: Serve) -> Result<()> {
    let tls = args.tls.files().map(Tls::from);
    server::serve(paths, args.listen, tls, args.hosts.allow_host)
}
