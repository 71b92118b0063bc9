//! The accounts of secure mode, in an SQLite database file: names with their password
//! hashes, and the ids of tokens revoked by logout until they expire.
//!
//! Names are unique without regard to ASCII case (`COLLATE NOCASE`): `Alice` cannot sign up
//! beside `alice`, and logging in as `ALICE` yields a token for `alice`, the stored spelling.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{params, Connection, ErrorCode, OptionalExtension};

/// The most accounts the demo keeps: sign-up is refused beyond (a bound on the file, whose
/// growth clients drive).
pub(crate) const MAX_ACCOUNTS: u64 = 100_000;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS accounts (
        name TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS revoked_tokens (
        jti TEXT PRIMARY KEY NOT NULL,
        expires_at INTEGER NOT NULL
    );
";

/// What went wrong with the database.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccountsError {
    /// Sign-up with a name that has an account.
    #[error("the name is taken")]
    Taken,
    /// Sign-up beyond [`MAX_ACCOUNTS`].
    #[error("sign-up is closed: the demo holds at most {MAX_ACCOUNTS} accounts")]
    Full,
    /// SQLite failed (a read-only or missing directory, a corrupt file, a full disk).
    #[error("accounts database: {0}")]
    Database(#[from] rusqlite::Error),
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    /// The name as it was signed up.
    pub(crate) name: String,
    /// The argon2id PHC string.
    pub(crate) password_hash: String,
}

/// The database. Cheap calls (an indexed lookup or insert); password hashing happens
/// outside of it.
pub(crate) struct Accounts {
    // A std mutex: a rusqlite connection is not `Sync`, and each use is one short
    // statement, never held across an await or a hash.
    connection: Mutex<Connection>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Accounts { sqlite }")
    }
}

impl Accounts {
    /// Opens the database file at `path`, creating it and its tables on first use.
    pub(crate) fn open(path: &Path) -> Result<Accounts, AccountsError> {
        Accounts::with(Connection::open(path)?)
    }

    /// A database in memory (tests).
    #[cfg(test)]
    pub(crate) fn in_memory() -> Result<Accounts, AccountsError> {
        Accounts::with(Connection::open_in_memory()?)
    }

    fn with(connection: Connection) -> Result<Accounts, AccountsError> {
        // Another process holding a write lock briefly is waited for, not an error.
        connection.busy_timeout(std::time::Duration::from_secs(2))?;
        connection.execute_batch(SCHEMA)?;
        Ok(Accounts {
            connection: Mutex::new(connection),
        })
    }

    /// The account named `name` (any ASCII case), if there is one.
    pub(crate) fn find(&self, name: &str) -> Result<Option<Account>, AccountsError> {
        let account = self
            .lock()
            .query_row(
                "SELECT name, password_hash FROM accounts WHERE name = ?1",
                params![name],
                |row| {
                    Ok(Account {
                        name: row.get(0)?,
                        password_hash: row.get(1)?,
                    })
                },
            )
            .optional()?;
        Ok(account)
    }

    /// Stores a new account; `Taken` if the name has one, `Full` past [`MAX_ACCOUNTS`].
    pub(crate) fn create(
        &self,
        name: &str,
        password_hash: &str,
        now_secs: u64,
    ) -> Result<(), AccountsError> {
        let connection = self.lock();
        let count: u64 = connection.query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0))?;
        if count >= MAX_ACCOUNTS {
            return Err(AccountsError::Full);
        }
        let inserted = connection.execute(
            "INSERT INTO accounts (name, password_hash, created_at) VALUES (?1, ?2, ?3)",
            params![name, password_hash, now_secs],
        );
        match inserted {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(error, _))
                if error.code == ErrorCode::ConstraintViolation =>
            {
                Err(AccountsError::Taken)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Revokes the token `jti` until `expires_at` (seconds), and forgets revocations of
    /// tokens that have expired by `now_secs` (the table holds only live tokens).
    pub(crate) fn revoke(
        &self,
        jti: &str,
        expires_at: u64,
        now_secs: u64,
    ) -> Result<(), AccountsError> {
        let connection = self.lock();
        connection.execute(
            "DELETE FROM revoked_tokens WHERE expires_at <= ?1",
            params![now_secs],
        )?;
        connection.execute(
            "INSERT OR IGNORE INTO revoked_tokens (jti, expires_at) VALUES (?1, ?2)",
            params![jti, expires_at],
        )?;
        Ok(())
    }

    /// Whether the token `jti` was revoked.
    pub(crate) fn is_revoked(&self, jti: &str) -> Result<bool, AccountsError> {
        let found = self
            .lock()
            .query_row(
                "SELECT 1 FROM revoked_tokens WHERE jti = ?1",
                params![jti],
                |_| Ok(()),
            )
            .optional()?;
        Ok(found.is_some())
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic in another request cannot leave a half-done statement behind.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_found_by_name_in_any_ascii_case() {
        let accounts = Accounts::in_memory().unwrap();
        assert_eq!(accounts.find("alice").unwrap(), None);
        accounts.create("Alice", "$hash", 1).unwrap();
        let found = accounts.find("aLiCe").unwrap().unwrap();
        assert_eq!(found.name, "Alice");
        assert_eq!(found.password_hash, "$hash");
    }

    #[test]
    fn a_taken_name_is_refused() {
        let accounts = Accounts::in_memory().unwrap();
        accounts.create("bob", "$one", 1).unwrap();
        assert!(matches!(
            accounts.create("bob", "$two", 2),
            Err(AccountsError::Taken)
        ));
        assert!(matches!(
            accounts.create("BOB", "$two", 2),
            Err(AccountsError::Taken)
        ));
        assert_eq!(accounts.find("bob").unwrap().unwrap().password_hash, "$one");
    }

    #[test]
    fn revoked_tokens_are_kept_until_they_expire() {
        let accounts = Accounts::in_memory().unwrap();
        assert!(!accounts.is_revoked("t1").unwrap());
        accounts.revoke("t1", 100, 10).unwrap();
        accounts.revoke("t1", 100, 10).unwrap();
        assert!(accounts.is_revoked("t1").unwrap());
        accounts.revoke("t2", 200, 100).unwrap();
        assert!(!accounts.is_revoked("t1").unwrap(), "expired: forgotten");
        assert!(accounts.is_revoked("t2").unwrap());
    }
}
