//! A sleep with microsecond precision for open-loop schedules.
//!
//! tokio's timer wheel has a resolution of one millisecond and rounds up, so an open-loop
//! worker woken by it starts its transaction up to a millisecond late, and that lateness would
//! show up as latency the server never caused. On Linux each worker owns a `timerfd` armed with
//! an absolute CLOCK_MONOTONIC deadline and awaited through tokio's reactor, which wakes it
//! within the kernel's timer slack (set to 10 µs for client threads). Elsewhere it falls back
//! to tokio's timer. The client threads' scheduling policy is set here too, since it is the
//! other per-thread knob of how promptly a worker wakes.

use std::time::Instant;

#[cfg(target_os = "linux")]
mod imp {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Instant;
    use tokio::io::unix::AsyncFd;

    pub struct Sleeper {
        fd: Option<AsyncFd<OwnedFd>>,
    }

    impl Sleeper {
        pub fn new() -> Sleeper {
            // SAFETY: plain syscall; the fd is owned by OwnedFd from here on.
            let raw = unsafe {
                libc::timerfd_create(
                    libc::CLOCK_MONOTONIC,
                    libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
                )
            };
            let fd = if raw >= 0 {
                // SAFETY: raw is a fresh, valid descriptor that nothing else owns; the OwnedFd
                // is moved into the AsyncFd, which deregisters it before closing it.
                unsafe { AsyncFd::register(OwnedFd::from_raw_fd(raw)) }.ok()
            } else {
                None
            };
            Sleeper { fd }
        }

        pub async fn sleep_until(&mut self, t: Instant) {
            let now = Instant::now();
            if t <= now {
                return;
            }
            let Some(fd) = &self.fd else {
                tokio::time::sleep_until(t.into()).await;
                return;
            };
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: ts is a valid out-pointer.
            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
            let wait = t - now;
            let total_ns = ts.tv_nsec as u128 + wait.subsec_nanos() as u128;
            let spec = libc::itimerspec {
                it_interval: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: libc::timespec {
                    tv_sec: ts.tv_sec
                        + wait.as_secs() as libc::time_t
                        + (total_ns / 1_000_000_000) as libc::time_t,
                    tv_nsec: (total_ns % 1_000_000_000) as libc::c_long,
                },
            };
            // SAFETY: valid fd and spec; old value not requested.
            let rc = unsafe {
                libc::timerfd_settime(
                    fd.as_raw_fd(),
                    libc::TFD_TIMER_ABSTIME,
                    &spec,
                    std::ptr::null_mut(),
                )
            };
            if rc != 0 {
                tokio::time::sleep_until(t.into()).await;
                return;
            }
            loop {
                let Ok(mut guard) = fd.readable().await else {
                    tokio::time::sleep_until(t.into()).await;
                    return;
                };
                let mut buf = [0u8; 8];
                // SAFETY: reading 8 bytes into an 8-byte buffer.
                let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
                if n == 8 {
                    return;
                }
                guard.clear_ready();
                if Instant::now() >= t {
                    return;
                }
            }
        }
    }

    /// Lower the kernel's timer slack for the calling thread (default 50 µs).
    pub fn tighten_timer_slack() {
        // SAFETY: prctl with PR_SET_TIMERSLACK only affects the calling thread.
        unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 10_000 as libc::c_ulong, 0, 0, 0);
        }
    }

    /// Moves the calling thread to SCHED_BATCH (unprivileged: the nice value stays).
    pub fn batch_this_thread() -> std::io::Result<()> {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread; param is a valid pointer for the call.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::time::Instant;

    pub struct Sleeper;

    impl Sleeper {
        pub fn new() -> Sleeper {
            Sleeper
        }

        pub async fn sleep_until(&mut self, t: Instant) {
            tokio::time::sleep_until(t.into()).await;
        }
    }

    pub fn tighten_timer_slack() {}

    pub fn batch_this_thread() -> std::io::Result<()> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "SCHED_BATCH exists only on Linux",
        ))
    }
}

pub use imp::{batch_this_thread, tighten_timer_slack, Sleeper};

impl Default for Sleeper {
    fn default() -> Self {
        Sleeper::new()
    }
}

/// For tests and benches: how late a sleep wakes, in nanoseconds.
pub async fn lateness_ns(s: &mut Sleeper, after: std::time::Duration) -> u64 {
    let t = Instant::now() + after;
    s.sleep_until(t).await;
    Instant::now().saturating_duration_since(t).as_nanos() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_at_the_deadline_not_before() {
        let rt = crate::util::runtime().unwrap();
        rt.block_on(async {
            let mut s = Sleeper::new();
            for _ in 0..20 {
                let t = Instant::now() + std::time::Duration::from_micros(300);
                s.sleep_until(t).await;
                assert!(Instant::now() >= t);
            }
        });
    }
}
