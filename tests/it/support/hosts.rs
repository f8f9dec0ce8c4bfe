//! Several hosts for one test ([`sessctl::testbed::lan`]): an [`Env`] for the desk and for
//! each host, and ssh from the desk to them.

use std::path::Path;

use sessctl::testbed::lan;

use super::{skip, Env, Test, Testbed, SESSCTL};

/// The desk, the hosts and the network between them. The fields drop in order: the network
/// (ssh clients, each sshd) before the hosts' managers, the desk's last.
pub struct Lan {
    pub net: lan::Lan,
    pub hosts: Vec<Env>,
    pub desk: Env,
}

/// A desk and `hosts` hosts, each with its own manager and sshd, or `None` when a part is
/// missing (sshd, ip, a manager): the test is then skipped, and fails under `CI`.
#[track_caller]
pub fn lan(label: &str, hosts: usize) -> Option<Lan> {
    let start = || -> anyhow::Result<(lan::Lan, Vec<Testbed>, Testbed)> {
        let desk = Testbed::start(&format!("{label}-desk"))?;
        let mut beds = (1..=hosts)
            .map(|i| Testbed::start(&format!("{label}-h{i}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let bin = Path::new(SESSCTL).parent().expect("the binary's directory");
        let net = lan::Lan::start(&desk, &mut beds, bin)?;
        Ok((net, beds, desk))
    };
    match start() {
        Ok((net, beds, desk)) => {
            let mut desk = Env::with_bed(desk);
            // The desk's sessctl reaches the hosts with the Lan's keys and known hosts.
            desk.set("SESSCTL_SSH", Some(net.ssh().as_os_str()));
            Some(Lan {
                net,
                hosts: beds.into_iter().map(Env::with_bed).collect(),
                desk,
            })
        }
        Err(err) => skip(format_args!("no hosts with sshd: {err:#}")),
    }
}

impl Lan {
    /// `ssh HOST ARGS…` from the desk, through the Lan's client config, pinned as any sessctl
    /// run. The calling thread must be in the desk's namespace ([`lan::Lan::enter`]).
    pub fn ssh(&self, host: &str) -> Test {
        let mut test = self.desk.sessctl().arg(host);
        test.program = self.net.ssh().into_os_string();
        test
    }

    /// The sockets of the desk's shared ssh connections (in its runtime folder), sorted.
    pub fn control_sockets(&self) -> Vec<std::path::PathBuf> {
        let dir = self.desk.var("XDG_RUNTIME_DIR").join("sessctl/.ssh");
        let mut sockets: Vec<_> = (std::fs::read_dir(&dir).into_iter().flatten().flatten())
            .map(|entry| entry.path())
            .collect();
        sockets.sort();
        sockets
    }

    /// The [`Env`] of the host named `name` (`h1`, `h2`, …) in the Lan's ssh config.
    pub fn host(&self, name: &str) -> &Env {
        let i = (self.net.hosts().iter())
            .position(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name}"));
        &self.hosts[i]
    }
}

/// A `list --json` as printed, without the one field that changes by the second.
pub fn list_json(printed: &[u8]) -> serde_json::Value {
    let mut list: serde_json::Value = serde_json::from_slice(printed).expect("list --json is JSON");
    for product in list.as_array_mut().expect("an array").iter_mut() {
        product
            .as_object_mut()
            .expect("a product")
            .remove("uptime_seconds");
    }
    list
}
