//! Passwords: the length rules, argon2id hashes as PHC strings (a random 16-byte salt per
//! password, the crate's default cost: 19 MiB, 2 passes), and a dummy hash so that an
//! unknown name costs the same verification as a wrong password.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;

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

/// Hashes and verifies passwords.
pub(crate) struct Passwords {
    argon2: Argon2<'static>,
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
        getrandom::fill(&mut secret).map_err(|error| HashError(error.to_string()))?;
        let argon2 = Argon2::default();
        let dummy = hash_with(&argon2, &secret)?;
        Ok(Passwords { argon2, dummy })
    }

    /// The PHC string of `password` with a fresh random salt.
    pub(crate) fn hash(&self, password: &str) -> Result<String, HashError> {
        hash_with(&self.argon2, password.as_bytes())
    }

    /// Whether `password` matches the stored PHC string; with no stored hash (unknown name)
    /// the dummy is verified instead and the answer is `false`, after the same work. A
    /// stored string that does not parse counts as a mismatch.
    pub(crate) fn verify(&self, stored: Option<&str>, password: &str) -> bool {
        let phc = stored.unwrap_or(&self.dummy);
        let matches = self
            .argon2
            .verify_password(password.as_bytes(), phc)
            .is_ok();
        matches && stored.is_some()
    }
}

fn hash_with(argon2: &Argon2<'static>, password: &[u8]) -> Result<String, HashError> {
    argon2
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|error| HashError(error.to_string()))
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
        let first = passwords.hash("correct horse").unwrap();
        let second = passwords.hash("correct horse").unwrap();
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second, "a random salt per hash");
        assert!(passwords.verify(Some(&first), "correct horse"));
        assert!(passwords.verify(Some(&second), "correct horse"));
        assert!(!passwords.verify(Some(&first), "wrong horse"));
        assert!(!passwords.verify(None, "correct horse"));
        assert!(!passwords.verify(Some("not a phc string"), "correct horse"));
    }
}
