//! Which process a `running` run belongs to, so that a later open of the store can tell a run
//! whose loadgate process is gone (killed with SIGKILL, the machine restarted) from one that is
//! still going.
//!
//! A pid alone is not enough: pids are reused. The owner is the host name, the kernel's boot id
//! (`/proc/sys/kernel/random/boot_id`, new at every boot), the pid and the process's start time
//! in clock ticks since boot (`/proc/PID/stat`, field 22). A run recorded on another host is
//! never judged: its process cannot be looked at from here.

use std::fs;

/// The process that began a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Owner {
    pub host: String,
    pub boot_id: String,
    pub pid: i64,
    pub start: i64,
}

impl Owner {
    /// This process, or `None` where `/proc` cannot tell who it is.
    pub fn current() -> Option<Owner> {
        let pid = std::process::id();
        Some(Owner {
            host: host()?,
            boot_id: boot_id()?,
            pid: i64::from(pid),
            start: start_time(pid)?,
        })
    }

    /// Whether this owner's process is gone: `Some(true)` when it certainly is (this host
    /// rebooted since, no such pid, or the pid now belongs to a process started later),
    /// `Some(false)` when it still runs, `None` when this process cannot tell (another host, no
    /// `/proc`).
    pub fn gone(&self) -> Option<bool> {
        if host()? != self.host {
            return None;
        }
        if boot_id()? != self.boot_id {
            return Some(true);
        }
        let Ok(pid) = u32::try_from(self.pid) else {
            return Some(true);
        };
        Some(start_time(pid) != Some(self.start))
    }
}

fn host() -> Option<String> {
    let h = fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(h.trim().to_string())
}

fn boot_id() -> Option<String> {
    let b = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(b.trim().to_string())
}

/// The start time of process `pid` in clock ticks since boot, `None` when there is no such
/// process (a zombie, not reaped yet, counts as gone too).
fn start_time(pid: u32) -> Option<i64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last `)`.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace();
    if fields.next()? == "Z" {
        return None;
    }
    // Fields from 3 (the state) on; field 22 is the 20th of them.
    fields.nth(18)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reused_or_rebooted_pid_is_gone() {
        let me = Owner::current().expect("/proc tells who this process is");
        assert_eq!(me.gone(), Some(false));
        let reused = Owner {
            start: me.start + 1,
            ..me.clone()
        };
        assert_eq!(reused.gone(), Some(true));
        let rebooted = Owner {
            boot_id: "another boot".into(),
            ..me.clone()
        };
        assert_eq!(rebooted.gone(), Some(true));
        let elsewhere = Owner {
            host: format!("{}-elsewhere", me.host),
            ..me
        };
        assert_eq!(elsewhere.gone(), None);
    }
}
