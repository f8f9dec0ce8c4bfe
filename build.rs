//! Writes the man pages and the shell completion scripts from the command line's definition
//! (src/cli.rs), where the Debian package takes them: `target/<profile>/man/` and
//! `target/<profile>/completions/`. cargo-deb names its assets by paths under
//! `target/release/`, and a build script knows only its OUT_DIR, which sits three levels
//! below that folder; `sessctl man` and `sessctl completions` print the same at run time.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::env::{Bash, EnvCompleter, Fish, Zsh};

#[allow(dead_code)]
#[path = "src/cli.rs"]
mod cli;

fn main() -> std::io::Result<()> {
    println!("cargo:rerun-if-changed=src/cli.rs");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let profile_dir = out.ancestors().nth(3).ok_or_else(|| {
        std::io::Error::other(format!(
            "OUT_DIR {} is not target/<profile>/build/<package>/out",
            out.display()
        ))
    })?;
    man_pages(&profile_dir.join("man"))?;
    completions(&profile_dir.join("completions"))
}

/// sessctl.1 and one page per subcommand (sessctl-enable.1, sessctl-transcript-check.1, ...).
fn man_pages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(cli::Cli::command(), dir)
}

/// The registration scripts: each asks `sessctl` on PATH for completions at every <TAB>.
fn completions(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let shells: [(&dyn EnvCompleter, &str); 3] = [
        (&Bash, "sessctl.bash"),
        (&Zsh, "_sessctl"),
        (&Fish, "sessctl.fish"),
    ];
    for (shell, file) in shells {
        let mut script = Vec::new();
        shell.write_registration(
            cli::COMPLETE_VAR,
            "sessctl",
            "sessctl",
            "sessctl",
            &mut script,
        )?;
        std::fs::write(dir.join(file), script)?;
    }
    Ok(())
}
