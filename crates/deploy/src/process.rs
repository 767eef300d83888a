//! Child processes (cargo for firmware builds, QEMU) that must not outlive
//! the worker that started them.
//!
//! A worker killed with SIGKILL runs no clean-up code, so without this its
//! cargo build would go on holding the shared build folder's lock, and its
//! QEMU would go on emulating a board nobody reads, while the job is already
//! running again on another worker.

use std::process::Command;

/// Asks the kernel to send SIGKILL to the child when the thread that
/// started it dies (Linux's `PR_SET_PDEATHSIG`): callers use the child on
/// that thread until it ends (a firmware build waits for cargo; an
/// `Emulator` is used where it was started).
/// Elsewhere this does nothing: there the worker's death leaves the child
/// to finish on its own.
pub(crate) fn dies_with_parent(cmd: &mut Command) -> &mut Command {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // The parent's pid, read before the fork: if the parent died before
        // prctl took effect, the child is already orphaned and stops itself.
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: between fork and exec the closure calls only prctl, getppid
        // and raise, which are async-signal-safe, and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    libc::raise(libc::SIGKILL);
                }
                Ok(())
            });
        }
    }
    cmd
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_child_so_marked_runs_as_usual() {
        let out = dies_with_parent(Command::new("sh").args(["-c", "echo ok"]))
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    }
}
