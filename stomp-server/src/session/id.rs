//! Session ids that nobody can guess.
//!
//! An anonymous session is addressed by its id (`/user/{session id}/queue/..`, the
//! `-user{session id}` broker names of user destinations), so an id another client could
//! predict would let it reach that session. Ids were a counter; they are now 64 random bits
//! from the operating system, plus this process's tag so that instances sharing a relayed
//! broker never collide.

use std::hash::{BuildHasher, Hasher};

use crate::principal::SessionId;

/// A new session id: `s` + 16 hex digits (64 random bits) + `-` + the instance tag.
pub(crate) fn new_session_id() -> SessionId {
    SessionId::new(format!("s{:016x}-{}", random_u64(), instance_tag()))
}

/// 64 bits from the operating system's generator. Should it ever fail, a SipHash keyed with
/// the standard library's per-process random keys over a counter and the clock stands in:
/// still unpredictable to a client, which sees neither the keys nor the counter.
fn random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|error| {
        tracing::warn!(%error, "the system random generator failed; using a keyed hash for a session id");
        keyed_fallback()
    })
}

fn keyed_fallback() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    let mut hasher = KEYS.get_or_init(Default::default).build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.finish()
}

/// A short tag that tells this process apart from other instances: process id and start
/// time, in hex.
fn instance_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        format!("{:x}{:05x}", std::process::id(), nanos & 0xfffff)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::is_session_destination;

    #[test]
    fn ids_are_random_and_name_session_destinations() {
        let ids: std::collections::HashSet<String> =
            (0..1000).map(|_| new_session_id().to_string()).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(10) {
            let (random, tag) = id[1..].split_once('-').expect("s{random}-{tag}");
            assert_eq!(random.len(), 16, "{id}");
            assert!(!tag.is_empty());
            assert!(
                is_session_destination(&format!("/queue/x-user{id}")),
                "{id}"
            );
        }
        // Two consecutive ids share no counter: their random parts differ in many bits.
        let a = u64::from_str_radix(&new_session_id().as_str()[1..17], 16).expect("hex");
        let b = u64::from_str_radix(&new_session_id().as_str()[1..17], 16).expect("hex");
        assert!((a ^ b).count_ones() > 8, "{a:x} {b:x}");
    }

    #[test]
    fn the_fallback_differs_per_call() {
        assert_ne!(keyed_fallback(), keyed_fallback());
    }
}
