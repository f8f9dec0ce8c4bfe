//! `sessctl serve`: the dashboard's server, until SIGTERM.

use anyhow::Result;

use crate::cli::Serve;
use crate::lifecycle::dashboard::Tls;
use crate::paths::Paths;
use crate::server;

pub fn run(paths: Paths, args: Serve) -> Result<()> {
    server::serve(paths, args.listen, args.tls.files().map(Tls::from))
}
