//! `sessctl dashboard`: install or remove the dashboard's user service, and log in to it.

use anyhow::Result;

use crate::cli::Dashboard;
use crate::lifecycle::dashboard;
use crate::paths::Paths;
use crate::server;

pub fn run(paths: &Paths, command: Dashboard) -> Result<()> {
    let lines = match command {
        Dashboard::Enable { listen, tls } => {
            let mut lines =
                dashboard::enable(paths, listen, tls.files().map(dashboard::Tls::from))?;
            lines.push("log in: open the link `sessctl dashboard url` prints".to_string());
            lines
        }
        Dashboard::Disable => dashboard::disable(paths)?,
        Dashboard::Token => vec![server::token(paths)?],
        Dashboard::Url => {
            let at = dashboard::url(paths)?;
            let at = at.unwrap_or_else(|| format!("http://{}", server::DEFAULT_LISTEN));
            vec![format!("{at}/login?token={}", server::token(paths)?)]
        }
    };
    for line in lines {
        outln!("{line}");
    }
    Ok(())
}
