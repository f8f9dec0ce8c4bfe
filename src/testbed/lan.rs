//! Several hosts on one machine, for the tests and benches of `sessctl --host`: the "desk" and
//! each host are [`Testbed`]s (own manager, XDG directories, cgroups, network namespace), and
//! the Lan joins the desk's namespace to each host's with a veth pair. No namespace has a
//! default route, so nothing leaves them.
//!
//! Host `i` (from 1) is `10.25.{i}.2` on its `eth0`, the desk `10.25.{i}.1` on `d{i}`. Each
//! host runs its own `/usr/sbin/sshd` beside its manager ([`Testbed::spawn_aside`]), with a
//! host key made per Lan; one client key is authorized on every host. A login there gets that
//! host's [`Testbed::env`] (sshd's `SetEnv`), so the sessctl it runs reaches that host's
//! manager. Host 2 listens on port 2222, the others on 22, so a `[:port]` is exercised.
//!
//! On the desk side, [`Lan::ssh`] is a wrapper (`ssh -F` the Lan's config) that knows the hosts
//! as `h1`, `h2`, … and trusts exactly their host keys. [`Lan::enter`] puts the calling thread
//! in the desk's namespace, where everything it then spawns can reach the hosts.
//!
//! Runs `ip`, `ssh-keygen` and `sshd`, never `ssh` itself (the `remote` adapter's program).
//! May import: `poll`, the testbed.

use std::fs::{self, File};
use std::marker::PhantomData;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::Testbed;
use crate::poll;

const SSHD: &str = "/usr/sbin/sshd";
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// One host as the desk reaches it.
#[derive(Debug, Clone)]
pub struct Host {
    /// Its name in the Lan's ssh config: `h1`, `h2`, …
    pub name: String,
    pub addr: Ipv4Addr,
    pub port: u16,
}

impl Host {
    /// How a user would write it for `--host`: `10.25.1.2`, `10.25.2.2:2222`.
    pub fn dest(&self) -> String {
        match self.port {
            22 => self.addr.to_string(),
            port => format!("{}:{port}", self.addr),
        }
    }

    /// Its entry in `known_hosts`, as ssh looks it up.
    fn known_as(&self) -> String {
        match self.port {
            22 => self.addr.to_string(),
            port => format!("[{}]:{port}", self.addr),
        }
    }
}

/// The network, the keys and each host's sshd. Drop it before the testbeds it joined.
pub struct Lan {
    dir: PathBuf,
    /// The desk's network namespace.
    desk: File,
    hosts: Vec<Host>,
    sshd: Vec<Child>,
}

impl Lan {
    /// Joins `desk` to each of `hosts` and starts an sshd on each; waits until every sshd
    /// accepts connections from the desk. `bin` goes first on the logins' PATH (where the
    /// sessctl under test is).
    pub fn start(desk: &Testbed, hosts: &mut [Testbed], bin: &Path) -> Result<Lan> {
        if !Path::new(SSHD).exists() {
            bail!("{SSHD} is not installed; apt-get install openssh-server");
        }
        if hosts.len() > 254 {
            bail!(
                "{} hosts do not fit in 10.25.1-254.0/30; ask for fewer",
                hosts.len()
            );
        }
        let dir = desk.root.join("lan");
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        let mut lan = Lan {
            desk: desk
                .netns
                .try_clone()
                .context("duplicating the desk's netns")?,
            dir,
            hosts: Vec::new(),
            sshd: Vec::new(),
        };
        keygen(&lan.dir.join("id_ed25519"))?;
        let authorized = lan.dir.join("authorized_keys");
        fs::copy(lan.dir.join("id_ed25519.pub"), &authorized).context("writing authorized_keys")?;
        fs::set_permissions(&authorized, fs::Permissions::from_mode(0o600))
            .context("chmod authorized_keys")?;
        // sshd's privilege-separation directory, where the package would make it.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create("/run/sshd")
            .context("creating /run/sshd")?;
        let mut known = String::new();
        for (i, bed) in (1..).zip(hosts.iter_mut()) {
            let host = Host {
                name: format!("h{i}"),
                addr: Ipv4Addr::new(10, 25, i, 2),
                port: if i == 2 { 2222 } else { 22 },
            };
            lan.wire(bed, i)?;
            let key = lan.start_sshd(bed, &host, bin)?;
            known.push_str(&format!("{} {key}\n", host.known_as()));
            lan.hosts.push(host);
        }
        lan.write_client(&known)?;
        lan.wait_ready(hosts)?;
        Ok(lan)
    }

    /// The hosts, `h1` first.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Each host's listening sshd, in host order (its logins are its children).
    pub fn sshd_pids(&self) -> Vec<u32> {
        self.sshd.iter().map(Child::id).collect()
    }

    /// Where the keys and the client's files are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The desk's ssh: `ssh -F <the Lan's config>`, for `SESSCTL_SSH` or to run directly.
    pub fn ssh(&self) -> PathBuf {
        self.dir.join("ssh")
    }

    /// Puts the calling thread in the desk's network namespace until the guard drops.
    pub fn enter(&self) -> Result<NetnsGuard> {
        let old = File::open("/proc/thread-self/ns/net").context("opening this thread's netns")?;
        setns(self.desk.as_fd(), CloneFlags::CLONE_NEWNET).context("entering the desk's netns")?;
        Ok(NetnsGuard {
            old,
            _thread: PhantomData,
        })
    }

    /// The veth pair between the desk and host `i`, addressed and up on both ends.
    fn wire(&self, bed: &Testbed, i: u8) -> Result<()> {
        let near = format!("d{i}");
        let peer = bed.netns_path();
        let peer = peer.to_str().context("a netns path is UTF-8")?;
        let desk = self.desk.as_fd();
        ip(
            desk,
            &[
                "link", "add", "name", &near, "type", "veth", "peer", "name", "eth0", "netns", peer,
            ],
        )?;
        ip(
            desk,
            &["addr", "add", &format!("10.25.{i}.1/30"), "dev", &near],
        )?;
        ip(desk, &["link", "set", &near, "up"])?;
        let host = bed.netns();
        ip(
            host,
            &["addr", "add", &format!("10.25.{i}.2/30"), "dev", "eth0"],
        )?;
        ip(host, &["link", "set", "eth0", "up"])
    }

    /// Makes `host`'s key and config and starts its sshd beside `bed`'s manager. Returns the
    /// public host key, for `known_hosts`.
    fn start_sshd(&mut self, bed: &mut Testbed, host: &Host, bin: &Path) -> Result<String> {
        let dir = bed.root.join("sshd");
        fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let key = dir.join("host_key");
        keygen(&key)?;
        let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display());
        let set_env: Vec<String> = (bed.env().into_iter())
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .chain([format!("PATH={path}")])
            .collect();
        let config = format!(
            "ListenAddress {addr}:{port}\n\
             HostKey {key}\n\
             PidFile none\n\
             AuthorizedKeysFile {authorized}\n\
             AuthenticationMethods publickey\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             UsePAM no\n\
             PermitRootLogin prohibit-password\n\
             StrictModes no\n\
             UseDNS no\n\
             MaxStartups 100:30:200\n\
             SetEnv {set_env}\n\
             LogLevel VERBOSE\n",
            addr = host.addr,
            port = host.port,
            key = key.display(),
            authorized = self.dir.join("authorized_keys").display(),
            set_env = set_env.join(" "),
        );
        let config_file = dir.join("config");
        fs::write(&config_file, config)
            .with_context(|| format!("writing {}", config_file.display()))?;
        // An absolute path: sshd re-executes itself for every connection.
        let mut cmd = Command::new(SSHD);
        cmd.args(["-D", "-e", "-f"]).arg(&config_file);
        self.sshd.push(bed.spawn_aside(cmd, "sshd.log")?);
        let public = key.with_extension("pub");
        let public =
            fs::read_to_string(&public).with_context(|| format!("reading {}", public.display()))?;
        Ok(public.trim().to_string())
    }

    /// The desk's client: `known_hosts` (`known`), an ssh config naming every host, and the
    /// wrapper that uses it (`-F`: ssh finds `~/.ssh` through passwd, not `$HOME`).
    fn write_client(&self, known: &str) -> Result<()> {
        let file = |name: &str| self.dir.join(name);
        let mut config = String::new();
        for host in &self.hosts {
            config.push_str(&format!(
                "Host {}\n  HostName {}\n  Port {}\n",
                host.name, host.addr, host.port
            ));
        }
        config.push_str(&format!(
            "Host *\n  User root\n  IdentityFile {}\n  IdentitiesOnly yes\n  \
             UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  \
             StrictHostKeyChecking yes\n",
            file("id_ed25519").display(),
            file("known_hosts").display()
        ));
        let wrapper = format!(
            "#!/bin/sh\nexec ssh -F '{}' \"$@\"\n",
            file("ssh_config").display()
        );
        for (name, text, mode) in [
            ("known_hosts", known, 0o600),
            ("ssh_config", config.as_str(), 0o600),
            ("ssh", wrapper.as_str(), 0o700),
        ] {
            let path = file(name);
            fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .with_context(|| format!("chmod {}", path.display()))?;
        }
        Ok(())
    }

    /// Waits until each sshd accepts a TCP connection from the desk; one that exits first
    /// fails the start with its log.
    fn wait_ready(&mut self, beds: &[Testbed]) -> Result<()> {
        let desk = self.desk.as_fd();
        for ((host, sshd), bed) in self.hosts.iter().zip(&mut self.sshd).zip(beds) {
            let log = || fs::read_to_string(bed.root.join("sshd.log")).unwrap_or_default();
            let at = SocketAddr::from((host.addr, host.port));
            let ready = in_netns(desk, || {
                poll::until(READY_TIMEOUT, || {
                    if let Some(status) = sshd.try_wait().context("waiting for sshd")? {
                        bail!(
                            "sshd of {} exited at start ({status}); log:\n{}",
                            host.name,
                            log()
                        );
                    }
                    Ok(TcpStream::connect(at).ok().map(|_| ()))
                })
            })?;
            ready.with_context(|| {
                format!(
                    "sshd of {} did not listen on {at} in time; log:\n{}",
                    host.name,
                    log()
                )
            })?;
        }
        Ok(())
    }
}

impl Drop for Lan {
    /// Kills the ssh clients left in the desk's namespace (connection masters live on for
    /// minutes and would keep it alive), then each sshd; the logins they served are in the
    /// hosts' aside cgroups, which the testbeds' drop kills.
    fn drop(&mut self) {
        if let Ok(desk) = self.desk.metadata() {
            // Best effort, bounded: until none is left (a zombie counts as gone).
            let _ = poll::until(READY_TIMEOUT, || {
                let left = ssh_clients_in(&desk);
                for pid in &left {
                    let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
                }
                Ok(left.is_empty().then_some(()))
            });
        }
        for sshd in &mut self.sshd {
            let _ = sshd.kill();
            let _ = sshd.wait();
        }
    }
}

/// The calling thread's way back to its own network namespace.
pub struct NetnsGuard {
    old: File,
    /// A namespace is the thread's, not the process's: the guard stays on that thread.
    _thread: PhantomData<*const ()>,
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        // Nothing better to do on failure: the thread would stay in the desk's namespace.
        let _ = setns(self.old.as_fd(), CloneFlags::CLONE_NEWNET);
    }
}

/// Runs `f` on a thread of its own in the network namespace `ns`.
fn in_netns<T: Send>(ns: BorrowedFd<'_>, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                setns(ns, CloneFlags::CLONE_NEWNET).context("entering a network namespace")?;
                f()
            })
            .join()
            .map_err(|_| anyhow::anyhow!("a thread in another network namespace panicked"))?
    })
}

/// Runs `ip ARGS` in the network namespace `ns`.
fn ip(ns: BorrowedFd<'_>, args: &[&str]) -> Result<()> {
    let raw = ns.as_raw_fd();
    let mut cmd = Command::new("ip");
    cmd.args(args);
    // Safety: one system call on a descriptor that stays open until the exec.
    unsafe {
        cmd.pre_exec(move || {
            Ok(setns(
                BorrowedFd::borrow_raw(raw),
                CloneFlags::CLONE_NEWNET,
            )?)
        });
    }
    let out = cmd
        .output()
        .with_context(|| format!("running ip {}; apt-get install iproute2", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "ip {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Makes an ed25519 key pair without a passphrase at `path` (and `path.pub`).
fn keygen(path: &Path) -> Result<()> {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "sessctl-lan", "-f"])
        .arg(path)
        .output()
        .context("running ssh-keygen; apt-get install openssh-client")?;
    if !out.status.success() {
        bail!(
            "ssh-keygen for {} failed ({}): {}",
            path.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The `ssh` processes whose network namespace is the one `netns` describes.
fn ssh_clients_in(netns: &fs::Metadata) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            // A zombie has no namespaces left to read.
            let ns = fs::metadata(format!("/proc/{pid}/ns/net"));
            comm.trim_end() == "ssh"
                && ns.is_ok_and(|ns| (ns.dev(), ns.ino()) == (netns.dev(), netns.ino()))
        })
        .collect()
}
