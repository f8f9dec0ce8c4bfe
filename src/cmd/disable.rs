//! `sessctl disable`: stops the session, disables and removes its unit; `--purge` also
//! removes the product's config and state.

use anyhow::{Context, Result};

use crate::cli::Disable;
use crate::error::usage;
use crate::paths::Paths;
use crate::product;
use crate::resume;
use crate::store::{self, Lock};
use crate::systemd::Systemd;
use crate::unit;

pub fn run(paths: &Paths, args: Disable) -> Result<()> {
    product::check_name(&args.product)?;
    let config = paths.product_file(&args.product);
    let unit_file = paths.unit_file(&args.product);
    // A purge also takes a product of which only state is left (gc keeps a pin and snapshots).
    let state_left = args.purge && paths.state_dir(&args.product).exists();
    if !config.exists() && !unit_file.exists() && !state_left {
        return Err(usage(format!(
            "unknown product {:?}: it has no config and no unit; `sessctl list` shows the products",
            args.product
        )));
    }
    let systemd = Systemd::connect()?;
    let _lock = Lock::acquire(&paths.lock_file(&args.product))?;
    let name = unit::unit_name(&args.product);
    // A unit already removed (an earlier disable) has nothing left to stop or disable.
    if systemd.unit_file(&name)?.load_state != "not-found" {
        systemd.stop(&name)?;
        if systemd.status(&name)?.active_state == "failed" {
            systemd.reset_failed(&name)?;
        }
        systemd.disable(&name)?;
    }
    store::remove_file(&unit_file)?;
    systemd.reload()?;
    resume::forget(paths, &args.product, "disable")?;
    outln!("{name}: stopped, disabled and removed");
    if args.purge {
        store::remove_file(&config)?;
        let state = paths.state_dir(&args.product);
        if state.exists() {
            std::fs::remove_dir_all(&state)
                .with_context(|| format!("removing {}", state.display()))?;
        }
        store::remove_file(&paths.lock_file(&args.product))?;
        outln!("{}: config and state removed", args.product);
    }
    Ok(())
}
