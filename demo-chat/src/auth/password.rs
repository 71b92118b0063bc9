//! Passwords: the length rules, argon2id hashes as PHC strings (a random 16-byte salt per
//! password, the crate's default cost: 19 MiB, 2 passes), and a dummy hash so that an
//! unknown name costs the same verification as a wrong password.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version, ARGON2ID_IDENT};

/// The shortest password, in characters.
pub(crate) const PASSWORD_MIN: usize = 8;

/// The longest password, in characters (hashing cost does not depend on it much, but an
/// upper bound keeps requests plain).
pub(crate) const PASSWORD_MAX: usize = 128;

/// Checks a new password's length. `Err` says what is wrong, for the client.
pub(crate) fn validate_password(password: &str) -> Result<(), &'static str> {
    let length = password.chars().count();
    if length < PASSWORD_MIN {
        return Err("the password is too short (at least 8 characters)");
    }
    if length > PASSWORD_MAX {
        return Err("the password is too long (at most 128 characters)");
    }
    Ok(())
}

/// Hashing failed (the system's random generator or the hasher itself): not the client's
/// fault.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub(crate) struct HashError(String);

impl HashError {
    fn from(error: impl std::fmt::Display) -> HashError {
        HashError(error.to_string())
    }
}

/// The memory one hash works in (19 MiB for the default cost). The `gate` keeps one per
/// hash that may run, allocated once: a hash allocates nothing, so memory stays at what
/// these hold however many threads hash over time (fresh 19 MiB allocations on ever new
/// `block_in_place` threads left the allocator holding hundreds of MiB).
pub(crate) struct HashMemory(Vec<Block>);

impl std::fmt::Debug for HashMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HashMemory({} KiB)", self.0.len())
    }
}

impl HashMemory {
    /// Memory for the default parameters (untouched pages cost nothing until first used).
    pub(crate) fn new() -> HashMemory {
        HashMemory(vec![Block::default(); Params::default().block_count()])
    }
}

/// Hashes and verifies passwords.
pub(crate) struct Passwords {
    params: Params,
    /// The hash of a random password nobody knows, verified for names that have no account.
    dummy: String,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passwords { argon2id }")
    }
}

impl Passwords {
    /// Argon2id with the default parameters; computes the dummy hash (one hash, at start-up).
    pub(crate) fn new() -> Result<Passwords, HashError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(HashError::from)?;
        let params = Params::default();
        let dummy = hash_phc(&params, &secret, &mut HashMemory::new())?;
        Ok(Passwords { params, dummy })
    }

    /// The PHC string of `password` with a fresh random salt.
    pub(crate) fn hash(
        &self,
        password: &str,
        memory: &mut HashMemory,
    ) -> Result<String, HashError> {
        hash_phc(&self.params, password.as_bytes(), memory)
    }

    /// Whether `password` matches the stored PHC string; with no stored hash (unknown name)
    /// the dummy is verified instead and the answer is `false`, after the same work. A
    /// stored string that does not parse, or needs more memory than `memory`, counts as a
    /// mismatch.
    pub(crate) fn verify(
        &self,
        stored: Option<&str>,
        password: &str,
        memory: &mut HashMemory,
    ) -> bool {
        let phc = stored.unwrap_or(&self.dummy);
        let matches = matches_phc(phc, password.as_bytes(), memory).unwrap_or(false);
        matches && stored.is_some()
    }
}

/// Argon2id (version 0x13) of `password` with `salt` into `out`, in `memory`.
fn hash_into(
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    memory: &mut HashMemory,
) -> Result<(), HashError> {
    let blocks = memory
        .0
        .get_mut(..params.block_count())
        .ok_or_else(|| HashError::from("the hash needs more memory than a slot holds"))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password, salt, out, blocks)
        .map_err(HashError::from)
}

fn hash_phc(
    params: &Params,
    password: &[u8],
    memory: &mut HashMemory,
) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(HashError::from)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    hash_into(params, password, &salt, &mut out, memory)?;
    let phc = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(HashError::from)?,
        salt: Some(Salt::new(&salt).map_err(HashError::from)?),
        hash: Some(Output::new(&out).map_err(HashError::from)?),
    };
    Ok(phc.to_string())
}

fn matches_phc(phc: &str, password: &[u8], memory: &mut HashMemory) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(phc).map_err(HashError::from)?;
    let params = Params::try_from(&parsed).map_err(HashError::from)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Ok(false);
    };
    if parsed.algorithm != ARGON2ID_IDENT {
        return Ok(false);
    }
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let out = buffer
        .get_mut(..expected.len())
        .ok_or_else(|| HashError::from("hash too long"))?;
    hash_into(&params, password, salt.as_ref(), out, memory)?;
    // `Output`'s equality compares in constant time.
    Ok(Output::new(out).map_err(HashError::from)? == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_checked() {
        assert!(validate_password("1234567").unwrap_err().contains("short"));
        assert_eq!(validate_password("12345678"), Ok(()));
        assert_eq!(validate_password(&"\u{e9}".repeat(PASSWORD_MAX)), Ok(()));
        assert!(validate_password(&"x".repeat(PASSWORD_MAX + 1))
            .unwrap_err()
            .contains("long"));
    }

    #[test]
    fn hashes_are_salted_phc_strings_that_verify() {
        let passwords = Passwords::new().unwrap();
        let memory = &mut HashMemory::new();
        let first = passwords.hash("correct horse", memory).unwrap();
        let second = passwords.hash("correct horse", memory).unwrap();
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second, "a random salt per hash");
        assert!(passwords.verify(Some(&first), "correct horse", memory));
        assert!(passwords.verify(Some(&second), "correct horse", memory));
        assert!(!passwords.verify(Some(&first), "wrong horse", memory));
        assert!(!passwords.verify(None, "correct horse", memory));
        assert!(!passwords.verify(Some("not a phc string"), "correct horse", memory));
    }

    /// The PHC strings are the argon2 crate's own: each side verifies the other's.
    #[test]
    fn hashes_agree_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let passwords = Passwords::new().unwrap();
        let memory = &mut HashMemory::new();
        let ours = passwords.hash("correct horse", memory).unwrap();
        let argon2 = Argon2::default();
        assert!(argon2
            .verify_password(b"correct horse", ours.as_str())
            .is_ok());
        assert!(argon2
            .verify_password(b"wrong horse", ours.as_str())
            .is_err());
        let theirs = argon2.hash_password(b"correct horse").unwrap().to_string();
        assert!(passwords.verify(Some(&theirs), "correct horse", memory));
        assert!(!passwords.verify(Some(&theirs), "wrong horse", memory));
    }
}
