//! Test-only fault points. Built with the `testbed` feature, sessctl SIGKILLs itself when it
//! reaches the point named by `$SESSCTL_FAULT`, so the chaos tests can end a command between
//! any two of its steps, as a crash, an OOM kill or a closed laptop would. A release build
//! compiles every point to nothing and never reads the variable.
//!
//! A leaf: imports nothing of sessctl.

/// The variable the tests set.
pub const VARIABLE: &str = "SESSCTL_FAULT";

/// A point between two steps, named `<command>:<where>` (`stop:after-job`).
#[inline]
pub fn point(name: &str) {
    #[cfg(feature = "testbed")]
    if std::env::var_os(VARIABLE).is_some_and(|wanted| wanted == name) {
        // SIGKILL, never a panic: no destructor, no unwinding, no flush may run.
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
    #[cfg(not(feature = "testbed"))]
    let _ = name;
}
