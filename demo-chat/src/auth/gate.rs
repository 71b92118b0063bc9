//! Password hashing off the async path, a few at a time, each in memory of its own.
//!
//! `http_handler` callbacks are synchronous and run on a runtime worker, and one argon2 hash
//! takes tens of milliseconds of CPU and 19 MiB of memory. So the gate holds a fixed set
//! of slots, each with the memory one hash needs, and a hash runs:
//! - only in a free slot; when every slot is busy the request is refused at once (the
//!   handler answers 503 with `Retry-After`), so a login flood costs at most one core and
//!   19 MiB per slot, allocated once, and refusals cost nothing;
//! - inside `tokio::task::block_in_place` on a multi-threaded runtime: the worker hands its
//!   other tasks (every session it was driving) to a fresh thread before blocking, so
//!   sessions keep being served while the hash runs.

use std::sync::{Mutex, TryLockError};

use tokio::runtime::{Handle, RuntimeFlavor};

/// Every slot is busy; try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Busy;

/// A fixed set of slots, each holding an `M` (the memory of one hash).
#[derive(Debug)]
pub(crate) struct HashGate<M> {
    // A std mutex per slot, only ever `try_lock`ed: a busy slot is skipped, never awaited.
    slots: Vec<Mutex<M>>,
}

impl<M> HashGate<M> {
    /// A gate with one slot per item of `slots`.
    pub(crate) fn new(slots: impl IntoIterator<Item = M>) -> HashGate<M> {
        HashGate {
            slots: slots.into_iter().map(Mutex::new).collect(),
        }
    }

    /// Runs `work` (blocking) in a free slot, or `Err(Busy)` at once when none is free.
    pub(crate) fn run<T>(&self, work: impl FnOnce(&mut M) -> T) -> Result<T, Busy> {
        for slot in &self.slots {
            let mut guard = match slot.try_lock() {
                Ok(guard) => guard,
                // A hash that panicked left nothing half-done that matters: reuse the slot.
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => continue,
            };
            return Ok(blocking(|| work(&mut guard)));
        }
        Err(Busy)
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
    fn at_most_one_hash_per_slot() {
        let gate = HashGate::new([0u32]);
        let inner = gate.run(|_| gate.run(|_| ()));
        assert_eq!(inner, Ok(Err(Busy)), "the second is refused while one runs");
        assert_eq!(gate.run(|n| *n + 7), Ok(7), "the slot is free again");
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            gate.run(|_| panic!("hash failed"))
        }));
        assert!(result.is_err());
        assert_eq!(gate.run(|n| *n + 8), Ok(8), "a panic gives the slot back");
        let two = HashGate::new([1u32, 2]);
        assert_eq!(
            two.run(|a| two.run(|b| (*a, *b))),
            Ok(Ok((1, 2))),
            "two slots, two at once"
        );
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
            HashGate::new([()]).run(|_| heard.recv_timeout(Duration::from_secs(10)))
        });
        assert_eq!(hashing.await.unwrap(), Ok(Ok("the other task ran")));
    }
}
