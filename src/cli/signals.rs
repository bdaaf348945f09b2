//! Signals while `run`'s command runs. A flight recorder must outlive the command it records:
//! a Ctrl-C (or a `kill` of agentrail) that ended agentrail with its command would leave no
//! `tool_output` of the very run that was interrupted. So, from just before the command starts
//! until it has exited, agentrail catches SIGINT, SIGTERM, SIGHUP and SIGQUIT instead of dying
//! of them, and passes each on to the command; then `run` records how the command ended.
//!
//! The command stays in agentrail's process group, as before, so what the terminal sends (Ctrl-C,
//! Ctrl-\, a hangup) reaches it directly: a signal the kernel sent is not passed on again while
//! the command is still in agentrail's group. A signal another process sent (`kill`, `timeout`)
//! is passed on: it may have been sent to agentrail alone. (A `kill` of the whole group reaches
//! the command twice; no field of the signal tells the two apart.) A signal agentrail was
//! started with ignored (`nohup`) is left ignored, so the command inherits it ignored as before;
//! a caught one is back to its default in the command, since `exec` resets handlers.
//!
//! Once the command has exited, agentrail stops catching: a signal then ends agentrail as it
//! would have without it, rather than being swallowed while `run` collects the last output and
//! records. (A signal sent while the command ran is taken by agentrail's waiting main thread,
//! which the kernel prefers, before that thread can see the exit.)

use rustix::process::{Pid, Signal};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::{Handle, SignalsInfo};
use signal_hook::low_level::siginfo::Cause;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The signals that would otherwise end agentrail while its command runs.
const CAUGHT: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// The signals caught, before the command is started (so none can end agentrail once it is).
pub struct Caught {
    signals: SignalsInfo<WithOrigin>,
    /// Set once the command has exited: each caught signal then takes its default action.
    deadly: Arc<AtomicBool>,
}

/// Starts catching the signals in [`CAUGHT`] that are not ignored now.
pub fn catch() -> std::io::Result<Caught> {
    let ignored = ignored_signals();
    let signals: Vec<i32> = CAUGHT
        .into_iter()
        .filter(|signal| !ignored.contains(signal))
        .collect();
    let deadly = Arc::new(AtomicBool::new(false));
    for &signal in &signals {
        signal_hook::flag::register_conditional_default(signal, Arc::clone(&deadly))?;
    }
    Ok(Caught {
        signals: SignalsInfo::<WithOrigin>::new(signals)?,
        deadly,
    })
}

/// The signals this process ignores, from `SigIgn` in `/proc/self/status` (a hexadecimal mask,
/// bit N-1 for signal N); none where there is no such file.
fn ignored_signals() -> Vec<i32> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    (1..=64)
        .filter(|signal| mask & (1 << (signal - 1)) != 0)
        .collect()
}

/// Passes caught signals on to the command until [`Forwarder::stop`].
pub struct Forwarder {
    handle: Handle,
    thread: JoinHandle<()>,
    deadly: Arc<AtomicBool>,
}

impl Caught {
    /// Passes each caught signal on to the process `child` (see the module's rule).
    pub fn forward_to(self, child: &std::process::Child) -> Forwarder {
        let Caught {
            mut signals,
            deadly,
        } = self;
        let handle = signals.handle();
        let child = Pid::from_child(child);
        let thread = std::thread::spawn(move || {
            for origin in signals.forever() {
                let own_group = rustix::process::getpgid(Some(child))
                    .is_ok_and(|group| group == rustix::process::getpgrp());
                if passes_on(origin.cause, own_group) {
                    if let Some(signal) = Signal::from_named_raw(origin.signal) {
                        // The command may have exited already; it is not reaped before `stop`,
                        // so its pid cannot name another process.
                        let _ = rustix::process::kill_process(child, signal);
                    }
                }
            }
        });
        Forwarder {
            handle,
            thread,
            deadly,
        }
    }
}

impl Forwarder {
    /// Stops passing signals on, and stops catching them: from now on each ends agentrail as
    /// its default action does. Call it after the command has exited and before it is reaped.
    pub fn stop(self) {
        self.handle.close();
        let _ = self.thread.join();
        self.deadly.store(true, Ordering::SeqCst);
    }
}

/// Whether a signal of this cause is passed on to a command that is (`own_group`) or is not in
/// agentrail's process group: all but what the kernel (the terminal) sent to the group.
fn passes_on(cause: Cause, own_group: bool) -> bool {
    !(own_group && cause == Cause::Kernel)
}

/// Waits until `child` has exited, leaving it to be reaped (by `Child::wait`), so that its pid
/// names no other process meanwhile.
pub fn wait_for_exit(child: &std::process::Child) -> std::io::Result<()> {
    use rustix::process::{WaitId, WaitIdOptions};
    let id = WaitId::Pid(Pid::from_child(child));
    loop {
        match rustix::process::waitid(id.clone(), WaitIdOptions::EXITED | WaitIdOptions::NOWAIT) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(error) => return Err(error.into()),
        }
    }
}

/// The signal's name (`SIGINT`), or its number.
pub fn name(signal: i32) -> String {
    signal_hook::low_level::signal_name(signal).map_or_else(|| signal.to_string(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use signal_hook::low_level::siginfo::Sent;

    #[test]
    fn what_the_terminal_sent_the_group_is_not_passed_on_again() {
        assert!(!passes_on(Cause::Kernel, true));
        assert!(passes_on(Cause::Kernel, false));
        assert!(passes_on(Cause::Sent(Sent::User), true));
        assert!(passes_on(Cause::Sent(Sent::User), false));
        assert!(passes_on(Cause::Unknown, true));
    }

    #[test]
    fn signals_are_named() {
        assert_eq!(name(SIGINT), "SIGINT");
        assert_eq!(name(SIGTERM), "SIGTERM");
    }
}
