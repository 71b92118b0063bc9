//! Secure mode's accounts logic, without HTTP: sign-up, login with its rate limits and
//! hash gate, and token revocation at logout.
//!
//! Login:
//! 1. the client address gets [`ADDRESS_ATTEMPTS`] attempts (sign-ups included) a minute;
//! 2. a name gets [`NAME_FAILURES`] failed logins a minute, whoever tries (an attempt
//!    counts from before its hash until it succeeds, so concurrent guesses cannot slip
//!    past the count);
//! 3. the password is verified through the [`HashGate`]: against the account's hash, or
//!    against a dummy for a name without an account, so both cost the same and get the
//!    same answer ([`Refusal::WrongCredentials`]).

use std::path::Path;
use std::time::{Duration, Instant};

use super::accounts::{Accounts, AccountsError};
use super::gate::{Busy, HashGate};
use super::limiter::RateLimiter;
use super::password::{validate_password, HashError, HashMemory, Passwords};
use super::validate_name;

/// Login and sign-up attempts per client address per minute.
pub(crate) const ADDRESS_ATTEMPTS: u32 = 20;

/// Failed logins per name per minute.
pub(crate) const NAME_FAILURES: u32 = 5;

/// How many addresses and names each limiter remembers at most.
const LIMITER_CAPACITY: usize = 10_000;

/// How many password hashes run at once (one per core of the machine the demo is sized
/// for; each has 19 MiB of its own, allocated once).
const CONCURRENT_HASHES: usize = 2;

const MINUTE: Duration = Duration::from_secs(60);

/// Why a sign-up, login or logout was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Malformed input (a bad name, a short password): the text says what.
    Invalid(String),
    /// Unknown name or wrong password: deliberately the same.
    WrongCredentials,
    /// Sign-up with a name that has an account.
    Taken,
    /// Too many attempts from this address.
    AddressLimited(Duration),
    /// Too many failed logins for this name.
    NameLimited(Duration),
    /// Every hashing slot is in use.
    Busy,
    /// Sign-up is closed (the account limit).
    Full,
    /// A token that cannot be used (logout): the text says why.
    BadToken(String),
    /// The database or the hasher failed; logged where it happened.
    Internal,
}

/// Secure mode's state, shared by the HTTP handlers and the `CONNECT` interceptor.
#[derive(Debug)]
pub(crate) struct Secure {
    pub(crate) accounts: Accounts,
    passwords: Passwords,
    gate: HashGate<HashMemory>,
    per_address: RateLimiter,
    name_failures: RateLimiter,
}

/// Opening secure mode failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SecureError {
    /// The database could not be opened or created.
    #[error("cannot open the accounts database {path}: {error}")]
    Accounts {
        /// The file.
        path: String,
        /// Why.
        error: AccountsError,
    },
    /// The dummy hash could not be computed.
    #[error(transparent)]
    Hash(#[from] HashError),
}

impl Secure {
    /// Opens (or creates) the accounts database at `path`.
    pub(crate) fn open(path: &Path) -> Result<Secure, SecureError> {
        let accounts = Accounts::open(path).map_err(|error| SecureError::Accounts {
            path: path.display().to_string(),
            error,
        })?;
        Secure::with(accounts)
    }

    /// Secure mode over `accounts`.
    pub(crate) fn with(accounts: Accounts) -> Result<Secure, SecureError> {
        Ok(Secure {
            accounts,
            passwords: Passwords::new()?,
            gate: HashGate::new((0..CONCURRENT_HASHES).map(|_| HashMemory::new())),
            per_address: RateLimiter::new(ADDRESS_ATTEMPTS, MINUTE, LIMITER_CAPACITY),
            name_failures: RateLimiter::new(NAME_FAILURES, MINUTE, LIMITER_CAPACITY),
        })
    }

    /// Creates an account for `name`; `client` is the rate-limit key of the address.
    pub(crate) fn signup(
        &self,
        client: &str,
        name: &str,
        password: &str,
        now_secs: u64,
    ) -> Result<(), Refusal> {
        self.per_address
            .hit(client, Instant::now())
            .map_err(Refusal::AddressLimited)?;
        validate_name(name).map_err(|why| Refusal::Invalid(why.to_owned()))?;
        validate_password(password).map_err(|why| Refusal::Invalid(why.to_owned()))?;
        // Checked before hashing so that a taken name costs no hash; `create` checks again.
        if self.accounts.find(name).map_err(internal)?.is_some() {
            return Err(Refusal::Taken);
        }
        let hash = self
            .gate
            .run(|memory| self.passwords.hash(password, memory))
            .map_err(|Busy| Refusal::Busy)?
            .map_err(internal)?;
        match self.accounts.create(name, &hash, now_secs) {
            Ok(()) => Ok(()),
            Err(AccountsError::Taken) => Err(Refusal::Taken),
            Err(AccountsError::Full) => Err(Refusal::Full),
            Err(error) => Err(internal(error)),
        }
    }

    /// Checks `name` and `password`; the account's stored name on success.
    pub(crate) fn login(
        &self,
        client: &str,
        name: &str,
        password: &str,
    ) -> Result<String, Refusal> {
        let now = Instant::now();
        self.per_address
            .hit(client, now)
            .map_err(Refusal::AddressLimited)?;
        validate_name(name).map_err(|why| Refusal::Invalid(why.to_owned()))?;
        // Names differ by ASCII case only as the database sees them.
        let name_key = name.to_ascii_lowercase();
        // Counted as a failure before the hash and forgiven if it succeeds: concurrent
        // guesses cannot all pass the check before any of them is counted.
        self.name_failures
            .hit(&name_key, now)
            .map_err(Refusal::NameLimited)?;
        let checked = self
            .gate
            .run(|memory| {
                let account = self.accounts.find(name)?;
                let stored = account.as_ref().map(|a| a.password_hash.as_str());
                let matches = self.passwords.verify(stored, password, memory);
                Ok::<_, AccountsError>(account.filter(|_| matches))
            })
            .map_err(|Busy| Refusal::Busy)
            .and_then(|found| found.map_err(internal));
        match checked {
            Ok(None) => Err(Refusal::WrongCredentials),
            Ok(Some(account)) => {
                self.name_failures.forgive(&name_key);
                Ok(account.name)
            }
            Err(refusal) => {
                // Not a wrong password: the server could not check it.
                self.name_failures.forgive(&name_key);
                Err(refusal)
            }
        }
    }
}

fn internal(error: impl std::fmt::Display) -> Refusal {
    tracing::error!("accounts: {error}");
    Refusal::Internal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secure() -> Secure {
        Secure::with(Accounts::in_memory().unwrap()).unwrap()
    }

    #[test]
    fn sign_up_then_log_in() {
        let secure = secure();
        assert_eq!(
            secure.signup("10.0.0.1", "Alice", "correct horse", 1),
            Ok(())
        );
        assert_eq!(
            secure.login("10.0.0.1", "alice", "correct horse"),
            Ok("Alice".to_owned()),
            "the stored spelling"
        );
        assert_eq!(
            secure.login("10.0.0.1", "Alice", "wrong horse!"),
            Err(Refusal::WrongCredentials)
        );
        assert_eq!(
            secure.login("10.0.0.1", "nobody", "correct horse"),
            Err(Refusal::WrongCredentials),
            "an unknown name gets the same answer"
        );
        assert_eq!(
            secure.signup("10.0.0.1", "alice", "another one", 2),
            Err(Refusal::Taken)
        );
        assert!(matches!(
            secure.signup("10.0.0.1", "bob", "short", 2),
            Err(Refusal::Invalid(why)) if why.contains("short")
        ));
        assert!(matches!(
            secure.signup("10.0.0.1", "a/b", "long enough", 2),
            Err(Refusal::Invalid(why)) if why.contains("only contain")
        ));
    }

    #[test]
    fn successful_logins_do_not_count_against_the_name() {
        let secure = secure();
        secure
            .signup("10.0.0.1", "heidi", "correct horse", 1)
            .unwrap();
        for i in 0..NAME_FAILURES * 2 {
            let client = format!("10.0.4.{i}");
            assert_eq!(
                secure.login(&client, "heidi", "correct horse"),
                Ok("heidi".to_owned())
            );
        }
    }

    #[test]
    fn failures_per_name_are_limited_from_any_address() {
        let secure = secure();
        secure
            .signup("10.0.0.1", "carol", "correct horse", 1)
            .unwrap();
        for i in 0..NAME_FAILURES {
            let client = format!("10.0.1.{i}");
            assert_eq!(
                secure.login(&client, "carol", "guess"),
                Err(Refusal::WrongCredentials)
            );
        }
        // The right password from a fresh address is refused too, until the minute ends.
        assert!(matches!(
            secure.login("10.0.2.1", "CAROL", "correct horse"),
            Err(Refusal::NameLimited(left)) if left <= MINUTE
        ));
        // Unknown names are limited the same way (no enumeration through 429s).
        for _ in 0..NAME_FAILURES {
            let _ = secure.login("10.0.3.1", "ghost", "guess");
        }
        assert!(matches!(
            secure.login("10.0.3.2", "ghost", "guess"),
            Err(Refusal::NameLimited(_))
        ));
        assert_eq!(
            secure.login("10.0.3.3", "dave", "guess"),
            Err(Refusal::WrongCredentials),
            "other names are not affected"
        );
    }

    /// One guess short of the limit, two more arrive at once: only one is checked. (Had
    /// the count come after the hash, both would pass the check while the other hashed.)
    #[test]
    fn concurrent_guesses_cannot_pass_the_name_limit_together() {
        let secure = secure();
        for i in 0..NAME_FAILURES - 1 {
            let client = format!("10.0.5.{i}");
            let _ = secure.login(&client, "ivan", "guesswork");
        }
        let start = std::sync::Barrier::new(2);
        let results: Vec<_> = std::thread::scope(|scope| {
            let guesses: Vec<_> = ["10.0.6.1", "10.0.6.2"]
                .map(|client| {
                    let (secure, start) = (&secure, &start);
                    scope.spawn(move || {
                        start.wait();
                        secure.login(client, "ivan", "guesswork")
                    })
                })
                .into_iter()
                .collect();
            guesses.into_iter().map(|g| g.join().unwrap()).collect()
        });
        let checked = results
            .iter()
            .filter(|r| **r == Err(Refusal::WrongCredentials))
            .count();
        let limited = results
            .iter()
            .filter(|r| matches!(r, Err(Refusal::NameLimited(_))))
            .count();
        assert_eq!((checked, limited), (1, 1), "{results:?}");
    }

    #[test]
    fn attempts_per_address_are_limited_across_names() {
        let secure = secure();
        for i in 0..ADDRESS_ATTEMPTS {
            let name = format!("user{i}");
            assert_eq!(
                secure.login("10.0.0.9", &name, "guess"),
                Err(Refusal::WrongCredentials)
            );
        }
        assert!(matches!(
            secure.login("10.0.0.9", "someone", "guess"),
            Err(Refusal::AddressLimited(_))
        ));
        assert!(matches!(
            secure.signup("10.0.0.9", "someone", "long enough", 1),
            Err(Refusal::AddressLimited(_))
        ));
        assert_eq!(
            secure.login("10.0.0.10", "someone", "guess"),
            Err(Refusal::WrongCredentials),
            "other addresses are not affected"
        );
    }
}
