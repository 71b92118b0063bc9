//! Password hashing off the async path, a few at a time.
//!
//! `http_handler` callbacks are synchronous and run on a runtime worker, and one argon2 hash
//! takes tens of milliseconds of CPU and 19 MiB of memory. So a hash runs:
//! - only if fewer than `max` are already running; beyond that the request is refused
//!   (the handler answers 503 with `Retry-After`), so a login flood costs at most
//!   `max` × 19 MiB and `max` cores, and refusals cost nothing;
//! - inside `tokio::task::block_in_place` on a multi-threaded runtime: the worker hands its
//!   other tasks (every session it was driving) to a fresh thread before blocking, so
//!   sessions keep being served while the hash runs.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::{Handle, RuntimeFlavor};

/// Too many hashes are running; try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Busy;

/// Bounds how many password hashes run at once.
#[derive(Debug)]
pub(crate) struct HashGate {
    running: AtomicUsize,
    max: usize,
}

/// Gives the slot back when the work ends, even if it panics.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashGate {
    /// At most `max` (at least 1) at once.
    pub(crate) fn new(max: usize) -> HashGate {
        HashGate {
            running: AtomicUsize::new(0),
            max: max.max(1),
        }
    }

    /// Runs `work` (blocking) if a slot is free, else `Err(Busy)` at once.
    pub(crate) fn run<T>(&self, work: impl FnOnce() -> T) -> Result<T, Busy> {
        let before = self.running.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(&self.running);
        if before >= self.max {
            return Err(Busy);
        }
        let result = blocking(work);
        drop(slot);
        Ok(result)
    }
}

/// Runs blocking `work` without stalling the tasks of this runtime worker: through
/// `block_in_place` on a multi-threaded runtime (it panics on a current-thread one, where
/// nothing can take the other tasks over anyway), directly elsewhere.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn at_most_max_run_at_once() {
        let gate = HashGate::new(1);
        let inner = gate.run(|| gate.run(|| ()));
        assert_eq!(inner, Ok(Err(Busy)), "the second is refused while one runs");
        assert_eq!(gate.run(|| 7), Ok(7), "the slot is free again");
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            gate.run(|| panic!("hash failed"))
        }));
        assert!(result.is_err());
        assert_eq!(gate.run(|| 8), Ok(8), "a panic gives the slot back");
    }

    /// With one worker thread, a hash that blocked the worker would keep the task it
    /// spawned from ever running; `block_in_place` hands it to another thread. (The 10 s
    /// wait is a safety net: the other task answers at once when the gate works.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_running_hash_does_not_stall_the_worker() {
        // The test body runs outside the worker: the hash must run in a task on it.
        let hashing = tokio::spawn(async {
            let (tell, heard) = mpsc::channel();
            tokio::spawn(async move {
                let _ = tell.send("the other task ran");
            });
            HashGate::new(1).run(|| heard.recv_timeout(Duration::from_secs(10)))
        });
        assert_eq!(hashing.await.unwrap(), Ok(Ok("the other task ran")));
    }
}
