//! A private `systemd --user` manager with its own D-Bus, directories, cgroup subtree and mount
//! namespace, for `sessctl demo` and the test suite on machines whose PID 1 is not systemd.
//!
//! The recipe, and why each step is there:
//! - the manager refuses to start without `/run/systemd/system`, so it gets a private mount
//!   namespace with a tmpfs on `/run/systemd`: the host's `/run/systemd` is never touched;
//! - a user manager started in the root cgroup takes the whole tree over (PID 1 included), so it
//!   starts inside a cgroup subtree of its own and manages only that;
//! - its XDG directories are fresh, so it never sees a developer's units or manager;
//! - it runs in a network namespace of its own that has only `lo`, so nothing a session runs
//!   (a real agent included) can reach beyond the machine; a test joins the same namespace
//!   with [`Testbed::netns`] to serve the agent a fake API on 127.0.0.1.
//!
//! Two options serve the tests of what sessctl leaves outside its own files:
//! - [`Options::journal`]: tmpfs on `/run/log` and `/var/log/journal` in the manager's mount
//!   namespace, where a journald the test starts there writes, never in the host's journal;
//! - [`Options::root`]: the manager runs chrooted in a copy-on-write view of `/` (an overlay
//!   on a tmpfs), where a test installs the Debian package; the host's `/usr` stays as it was.
//!   [`Testbed::entry`] runs a program in that namespace (and root), where the sessions run.
//!
//! Dropping the testbed asks the manager to exit, kills whatever is left in its cgroups,
//! removes the cgroups depth-first and deletes its directories, also when a test panics.
//!
//! [`lan`] joins several testbeds into hosts on a private network, each with its own sshd.
//!
//! Compiled only with the `testbed` feature. May import: `poll`, `systemd`; only the tests and `demo` use it.

use std::ffi::{CString, OsString};
use std::fs::{self, File, OpenOptions};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::poll;
use crate::systemd::Systemd;

pub mod lan;

const START_TIMEOUT: Duration = Duration::from_secs(30);
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// What a test needs of the manager's mount namespace beyond the usual.
#[derive(Debug, Default, Clone, Copy)]
pub struct Options {
    /// Private, empty journal directories for a journald started in the namespace.
    pub journal: bool,
    /// A throwaway root: an overlay of `/` whose writes go to a tmpfs, with `/proc`, `/sys`,
    /// `/dev`, `/run` and `/tmp` of the host bound in.
    pub root: bool,
}

/// A running private user manager. Everything it made goes away on drop.
pub struct Testbed {
    pub name: String,
    pub root: PathBuf,
    pub runtime_dir: PathBuf,
    pub config_home: PathBuf,
    pub state_home: PathBuf,
    pub home: PathBuf,
    cgroups: Vec<PathBuf>,
    /// Siblings of `cgroups` holding what [`Testbed::spawn_aside`] started: beside the
    /// manager's, because on cgroup2 a cgroup whose controllers are delegated to the manager
    /// refuses processes of its own.
    aside: Vec<PathBuf>,
    /// Kept open so the namespace outlives manager restarts.
    netns: File,
    options: Options,
    /// With [`Options::journal`]: the journald whose mount namespace the manager joins.
    journald: Option<Child>,
    manager: Option<Child>,
}

impl Testbed {
    /// Starts a manager and waits until its bus answers.
    pub fn start(label: &str) -> Result<Testbed> {
        Self::start_with(label, Options::default())
    }

    /// [`Testbed::start`] with `options`.
    pub fn start_with(label: &str, options: Options) -> Result<Testbed> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "sessctl-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        if !nix::unistd::geteuid().is_root() {
            bail!(
                "a private systemd --user manager needs root (for its mount namespace and cgroups)"
            );
        }
        let root = std::env::temp_dir().join(&name);
        let mut bed = Testbed {
            runtime_dir: runtime_base().join(&name),
            config_home: root.join("config"),
            state_home: root.join("state"),
            home: root.join("home"),
            root,
            name,
            cgroups: Vec::new(),
            aside: Vec::new(),
            netns: loopback_only_netns()?,
            options,
            journald: None,
            manager: None,
        };
        for dir in [
            &bed.root,
            &bed.runtime_dir,
            &bed.config_home,
            &bed.state_home,
            &bed.home,
        ] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        if options.root {
            for dir in [bed.root.join("rw"), bed.chroot_dir()] {
                fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
            }
        }
        bed.cgroups = cgroup_roots()?
            .iter()
            .map(|root| root.join(&bed.name))
            .collect();
        for cgroup in &bed.cgroups {
            fs::create_dir(cgroup)
                .with_context(|| format!("creating cgroup {}", cgroup.display()))?;
        }
        if options.journal {
            bed.start_journald()?;
        }
        bed.launch()?;
        Ok(bed)
    }

    /// Stops the manager (its units with it) and starts it again on the same directories and
    /// cgroups: what a logout and login, or a reboot, look like to the user's units.
    pub fn restart(&mut self) -> Result<()> {
        self.shutdown();
        self.launch()
    }

    /// Starts the manager in its cgroups and waits until its bus answers.
    fn launch(&mut self) -> Result<()> {
        self.manager = Some(self.spawn()?);
        self.wait_for_bus()
    }

    /// The cgroups' `cgroup.procs`, opened before a fork so that the child only writes.
    fn cgroup_procs(&self) -> Result<Vec<File>> {
        procs_files(&self.cgroups)
    }

    /// Starts systemd-journald in the testbed's cgroups and a mount namespace of its own, made
    /// as the manager's would be, and waits for its socket: the manager, started after it,
    /// joins that namespace and logs there from its first message.
    fn start_journald(&mut self) -> Result<()> {
        let binary = system_binary("systemd-journald")?;
        let log = File::create(self.root.join("journald.log")).context("creating journald.log")?;
        let mut cmd = Command::new(&binary);
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().context("duplicating journald.log")?)
            .stderr(log);
        self.confine(&mut cmd, None)?;
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let socket = PathBuf::from(format!(
            "/proc/{}/root/run/systemd/journal/socket",
            child.id()
        ));
        self.journald = Some(child);
        poll::until(START_TIMEOUT, || Ok(socket.exists().then_some(())))?
            .context("journald's socket did not appear in time")
    }

    fn spawn(&self) -> Result<Child> {
        let binary = system_binary("systemd")?;
        let log = File::create(self.root.join("manager.log")).context("creating manager.log")?;
        // With a journald, its namespace is made already: the manager joins it.
        let joined = match &self.journald {
            Some(journald) => Some(
                File::open(format!("/proc/{}/ns/mnt", journald.id()))
                    .context("opening journald's mount namespace")?,
            ),
            None => None,
        };
        let mut cmd = Command::new(&binary);
        cmd.arg("--user")
            .env_clear()
            .envs(self.env())
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
            .current_dir(&self.home)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("duplicating manager.log")?)
            .stderr(log);
        if joined.is_some() {
            // Its messages about units go to the journal, as a login's manager's do.
            cmd.env("SYSTEMD_LOG_TARGET", "journal");
        }
        self.confine(&mut cmd, joined)?;
        cmd.spawn()
            .with_context(|| format!("starting {} --user", binary.display()))
    }

    /// Makes `cmd` start in the testbed's cgroups and network namespace, and in the mount
    /// namespace `join` names, else in a new one made by [`Testbed::mount_steps`].
    fn confine(&self, cmd: &mut Command, join: Option<File>) -> Result<()> {
        let procs = self.cgroup_procs()?;
        let netns = self.netns.as_raw_fd();
        let steps = match join {
            Some(_) => Vec::new(),
            None => self.mount_steps()?,
        };
        // Safety: the closure only makes system calls on memory prepared before the fork
        // (no allocation), as required between fork and exec in a threaded process.
        unsafe {
            cmd.pre_exec(move || {
                for file in &procs {
                    nix::unistd::write(file.as_fd(), b"0")?;
                }
                setns(BorrowedFd::borrow_raw(netns), CloneFlags::CLONE_NEWNET)?;
                match &join {
                    Some(ns) => setns(ns.as_fd(), CloneFlags::CLONE_NEWNS)?,
                    None => unshare(CloneFlags::CLONE_NEWNS)?,
                }
                Ok(steps.iter().try_for_each(Step::apply)?)
            });
        }
        Ok(())
    }

    /// The manager's mount namespace, in the order it is made after `unshare`: nothing
    /// propagates back to the host, `/run/systemd` is its own, and the options' mounts.
    fn mount_steps(&self) -> Result<Vec<Step>> {
        if !Path::new("/run/systemd").is_dir() {
            bail!("/run/systemd does not exist; it is needed as the private manager's mount point");
        }
        let mut steps = vec![
            Step::mount(None, "/", None, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None)?,
            Step::mount(
                Some("tmpfs"),
                "/run/systemd",
                Some("tmpfs"),
                MsFlags::empty(),
                None,
            )?,
            Step::Mkdir(cstring("/run/systemd/system")?),
        ];
        if self.options.journal {
            for dir in ["/run/log", "/var/log/journal"] {
                if Path::new(dir).is_dir() {
                    steps.push(Step::mount(
                        Some("tmpfs"),
                        dir,
                        Some("tmpfs"),
                        MsFlags::empty(),
                        None,
                    )?);
                }
            }
        }
        if self.options.root {
            steps.extend(self.root_steps()?);
        }
        Ok(steps)
    }

    /// The throwaway root: `/` under an overlay whose upper layer is a tmpfs, the host's
    /// kernel and runtime filesystems bound in (`/tmp` alone, not what is mounted below it),
    /// and the chroot.
    fn root_steps(&self) -> Result<Vec<Step>> {
        let rw = self.root.join("rw");
        let root = self.chroot_dir();
        let at = |dir: &str| root.join(dir.trim_start_matches('/'));
        let data = format!(
            "lowerdir=/,upperdir={},workdir={}",
            rw.join("upper").display(),
            rw.join("work").display()
        );
        let mut steps = vec![
            Step::mount(
                Some("tmpfs"),
                path(&rw)?,
                Some("tmpfs"),
                MsFlags::empty(),
                None,
            )?,
            Step::Mkdir(cstring(path(&rw.join("upper"))?)?),
            Step::Mkdir(cstring(path(&rw.join("work"))?)?),
            Step::mount(
                Some("overlay"),
                path(&root)?,
                Some("overlay"),
                MsFlags::empty(),
                Some(&data),
            )?,
        ];
        for (dir, flags) in [
            ("/proc", MsFlags::MS_BIND | MsFlags::MS_REC),
            ("/sys", MsFlags::MS_BIND | MsFlags::MS_REC),
            ("/dev", MsFlags::MS_BIND | MsFlags::MS_REC),
            ("/run", MsFlags::MS_BIND | MsFlags::MS_REC),
            ("/tmp", MsFlags::MS_BIND),
        ] {
            steps.push(Step::mount(Some(dir), path(&at(dir))?, None, flags, None)?);
        }
        steps.push(Step::Chroot(cstring(path(&root)?)?));
        steps.push(Step::Chdir(cstring(path(&self.home)?)?));
        Ok(steps)
    }

    /// Where the throwaway root is mounted, seen from outside its namespace.
    fn chroot_dir(&self) -> PathBuf {
        self.root.join("root")
    }

    /// A way in for a test's commands: the manager's mount namespace, and its root with
    /// [`Options::root`].
    pub fn entry(&self) -> Result<Entry> {
        let pid = self
            .manager
            .as_ref()
            .context("the private manager is not running")?
            .id();
        let ns = File::open(format!("/proc/{pid}/ns/mnt"))
            .with_context(|| format!("opening the mount namespace of PID {pid}"))?;
        let root = match self.options.root {
            true => Some(cstring(path(&self.chroot_dir())?)?),
            false => None,
        };
        Ok(Entry {
            ns: std::sync::Arc::new(ns),
            root,
        })
    }

    /// The environment that points sessctl, tmux and systemd tools at this manager.
    pub fn env(&self) -> Vec<(OsString, OsString)> {
        let bus = format!("unix:path={}", self.runtime_dir.join("bus").display());
        [
            ("XDG_RUNTIME_DIR", self.runtime_dir.clone().into_os_string()),
            ("XDG_CONFIG_HOME", self.config_home.clone().into_os_string()),
            ("XDG_STATE_HOME", self.state_home.clone().into_os_string()),
            ("XDG_DATA_HOME", self.root.join("data").into_os_string()),
            ("HOME", self.home.clone().into_os_string()),
            ("DBUS_SESSION_BUS_ADDRESS", bus.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v))
        .collect()
    }

    /// The manager's network namespace, which has only `lo`: join it with `setns` to serve
    /// its sessions on 127.0.0.1.
    pub fn netns(&self) -> BorrowedFd<'_> {
        self.netns.as_fd()
    }

    /// The manager's network namespace as a path other programs can open while this process
    /// lives: `ip link … netns PATH` moves a link into it.
    pub fn netns_path(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.netns.as_raw_fd()
        ))
    }

    /// Starts `cmd` beside the manager, as a daemon of this host would run (a test's sshd):
    /// in the testbed's network namespace, the test's own mount namespace, and a cgroup next
    /// to the manager's that [`Testbed::kill_aside`] and the drop empty. Its output goes to
    /// `log` in the testbed's directory.
    pub fn spawn_aside(&mut self, mut cmd: Command, log: &str) -> Result<Child> {
        if self.aside.is_empty() {
            let aside: Vec<PathBuf> = (self.cgroups.iter())
                .map(|cgroup| cgroup.with_file_name(format!("{}-aside", self.name)))
                .collect();
            for cgroup in &aside {
                fs::create_dir(cgroup)
                    .with_context(|| format!("creating cgroup {}", cgroup.display()))?;
            }
            self.aside = aside;
        }
        let procs = procs_files(&self.aside)?;
        let path = self.root.join(log);
        let out = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let netns = self.netns.as_raw_fd();
        // Safety: only system calls on descriptors opened before the fork.
        unsafe {
            cmd.pre_exec(move || {
                for file in &procs {
                    nix::unistd::write(file.as_fd(), b"0")?;
                }
                Ok(setns(
                    BorrowedFd::borrow_raw(netns),
                    CloneFlags::CLONE_NEWNET,
                )?)
            });
        }
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone().context("duplicating the log")?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {:?} beside the manager", cmd.get_program()))
    }

    /// SIGKILLs everything [`Testbed::spawn_aside`] started and what it forked since: the
    /// host's daemon dies as in a crash, with every connection it served.
    pub fn kill_aside(&self) -> Result<()> {
        for cgroup in &self.aside {
            let emptied = poll::until(EXIT_TIMEOUT, || {
                let pids = fs::read_to_string(cgroup.join("cgroup.procs"))
                    .with_context(|| format!("reading {}/cgroup.procs", cgroup.display()))?;
                for pid in pids.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
                Ok(pids.trim().is_empty().then_some(()))
            })?;
            emptied.with_context(|| format!("{} did not empty in time", cgroup.display()))?;
        }
        Ok(())
    }

    /// A fresh connection to this manager.
    pub fn connect(&self) -> Result<Systemd> {
        Systemd::connect_at(&self.runtime_dir)
    }

    fn wait_for_bus(&mut self) -> Result<()> {
        let mut last = None;
        let answered = poll::until(START_TIMEOUT, || {
            if let Some(child) = self.manager.as_mut() {
                if let Some(status) = child.try_wait().context("waiting for the manager")? {
                    bail!(
                        "systemd --user exited at start ({status}); log:\n{}",
                        self.log()
                    );
                }
            }
            match self.connect() {
                Ok(_) => Ok(Some(())),
                Err(err) => {
                    last = Some(err);
                    Ok(None)
                }
            }
        })?;
        answered.with_context(|| {
            format!(
                "the private user manager's bus did not answer in time: {:#}\nlog:\n{}",
                last.map_or_else(String::new, |e| format!("{e:#}")),
                self.log()
            )
        })
    }

    /// The manager's own output so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.root.join("manager.log")).unwrap_or_default()
    }

    fn shutdown(&mut self) {
        let Some(mut child) = self.manager.take() else {
            return;
        };
        let asked = self
            .connect()
            .and_then(|systemd| systemd.exit_manager())
            .is_ok();
        if !asked {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        }
        // Teardown is best effort: whatever is left is killed below.
        let _ = poll::until(EXIT_TIMEOUT, || {
            Ok(matches!(child.try_wait(), Ok(Some(_))).then_some(()))
        });
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Each of `cgroups`' `cgroup.procs`, open for writing.
fn procs_files(cgroups: &[PathBuf]) -> Result<Vec<File>> {
    cgroups
        .iter()
        .map(|cgroup| {
            OpenOptions::new()
                .write(true)
                .open(cgroup.join("cgroup.procs"))
                .with_context(|| format!("opening {}/cgroup.procs", cgroup.display()))
        })
        .collect()
}

/// One step of making the manager's mount namespace, prepared before the fork so that the
/// child only makes system calls.
enum Step {
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: MsFlags,
        data: Option<CString>,
    },
    Mkdir(CString),
    Chroot(CString),
    Chdir(CString),
}

impl Step {
    fn mount(
        source: Option<&str>,
        target: &str,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<Step> {
        Ok(Step::Mount {
            source: source.map(cstring).transpose()?,
            target: cstring(target)?,
            fstype: fstype.map(cstring).transpose()?,
            flags,
            data: data.map(cstring).transpose()?,
        })
    }

    fn apply(&self) -> nix::Result<()> {
        match self {
            Step::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => mount(
                source.as_deref(),
                target.as_c_str(),
                fstype.as_deref(),
                *flags,
                data.as_deref(),
            ),
            Step::Mkdir(dir) => nix::unistd::mkdir(
                dir.as_c_str(),
                nix::sys::stat::Mode::from_bits_truncate(0o755),
            ),
            Step::Chroot(dir) => nix::unistd::chroot(dir.as_c_str()),
            Step::Chdir(dir) => nix::unistd::chdir(dir.as_c_str()),
        }
    }
}

/// systemd's program `name`, in /lib/systemd or /usr/lib/systemd.
fn system_binary(name: &str) -> Result<PathBuf> {
    ["/lib/systemd", "/usr/lib/systemd"]
        .into_iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.exists())
        .with_context(|| {
            format!("{name} is not installed (not in /lib/systemd); apt-get install systemd")
        })
}

fn path(p: &Path) -> Result<&str> {
    p.to_str()
        .with_context(|| format!("{} is not UTF-8", p.display()))
}

fn cstring(text: &str) -> Result<CString> {
    CString::new(text).with_context(|| format!("{text:?} has a NUL byte"))
}

/// A way into a testbed's mount namespace (and root): what the manager's sessions see.
#[derive(Clone)]
pub struct Entry {
    ns: std::sync::Arc<File>,
    root: Option<CString>,
}

impl Entry {
    /// Makes `cmd` start inside: in the manager's mount namespace, chrooted where it is.
    pub fn apply(&self, cmd: &mut Command) {
        let entry = self.clone();
        // Safety: setns, chroot and chdir on a descriptor and strings made before the fork.
        unsafe {
            cmd.pre_exec(move || {
                setns(entry.ns.as_fd(), CloneFlags::CLONE_NEWNS)?;
                if let Some(root) = &entry.root {
                    nix::unistd::chroot(root.as_c_str())?;
                    nix::unistd::chdir(c"/")?;
                }
                Ok(())
            });
        }
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        self.shutdown();
        if let Some(mut journald) = self.journald.take() {
            let _ = journald.kill();
            let _ = journald.wait();
        }
        for cgroup in self.aside.iter().chain(&self.cgroups) {
            remove_cgroup(cgroup);
        }
        let _ = fs::remove_dir_all(&self.runtime_dir);
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// A new network namespace with `lo` up and nothing else. It is made on a short-lived thread:
/// `unshare(CLONE_NEWNET)` moves only the calling thread, so the test process stays where it
/// was.
fn loopback_only_netns() -> Result<File> {
    std::thread::spawn(|| -> Result<File> {
        unshare(CloneFlags::CLONE_NEWNET).context("creating a network namespace")?;
        loopback_up()?;
        File::open("/proc/thread-self/ns/net").context("opening the new network namespace")
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the thread creating the network namespace panicked"))?
}

/// Sets `lo` up in the calling thread's network namespace (SIOCSIFFLAGS, as `ip link set lo
/// up` does), without needing iproute2.
fn loopback_up() -> Result<()> {
    use nix::libc;
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context("opening a socket to configure lo")?;
    // Safety: ifreq is plain old data; an all-zero value is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    // Safety: the socket is open and `req` outlives the call, which reads it.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("setting lo up");
    }
    Ok(())
}

/// Where runtime directories go: a tmpfs, as `/run/user/<uid>` is, because systemd removes a
/// unit's `RuntimeDirectory=` on stop only from a temporary file system.
fn runtime_base() -> PathBuf {
    let shm = Path::new("/dev/shm");
    match nix::sys::statfs::statfs(shm) {
        Ok(fs) if fs.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC => shm.to_path_buf(),
        _ => std::env::temp_dir(),
    }
}

/// The cgroup hierarchies a private manager needs a subtree in: the unified one alone on a
/// pure cgroup2 host; the `name=systemd` one plus the unified one on a hybrid host.
fn cgroup_roots() -> Result<Vec<PathBuf>> {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        return Ok(vec![base.to_path_buf()]);
    }
    let named = base.join("systemd");
    if !named.join("cgroup.procs").exists() {
        bail!("no usable cgroup hierarchy under /sys/fs/cgroup (neither cgroup2 nor name=systemd)");
    }
    let mut roots = vec![named];
    let unified = base.join("unified");
    if unified.join("cgroup.procs").exists() {
        roots.push(unified);
    }
    Ok(roots)
}

/// Kills what is left in `cgroup` and its children, then removes them, deepest first.
fn remove_cgroup(cgroup: &Path) {
    if let Ok(entries) = fs::read_dir(cgroup) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup(&entry.path());
            }
        }
    }
    // Best effort: a cgroup that will not go away is left for the host's own cleanup.
    let _ = poll::until(EXIT_TIMEOUT, || {
        let pids = fs::read_to_string(cgroup.join("cgroup.procs")).unwrap_or_default();
        for pid in pids.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        Ok((fs::remove_dir(cgroup).is_ok() || !cgroup.exists()).then_some(()))
    });
}
