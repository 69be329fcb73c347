//! Accounts as a service: password hashing, random secrets and the few
//! operations the command line and the admin page share.
//!
//! Passwords are hashed with Argon2id (the crate's defaults: 19 MiB, two
//! passes) on the blocking pool, so a burst of logins never stalls the async
//! workers. Session ids and API tokens are 32 random bytes: high entropy, so
//! a plain SHA-256 is the right way to store them (a slow hash would add
//! nothing), and lookups compare the hash in constant time.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{ApiToken, DynStore, Role, StoreError, User};

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;
/// Longest password accepted (Argon2 takes any length; this bounds the work).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Prefix of API tokens, so a leaked one is recognisable in a scan.
pub const API_TOKEN_PREFIX: &str = "flt_";

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Names: 1–64 characters of letters, digits, `.`, `_`, `-`, `@`.
pub fn validate_name(name: &str) -> Result<(), AccountError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(AccountError::Invalid(format!(
            "{name:?} is not a valid name: use 1 to 64 letters, digits, '.', '_', '-' or '@'"
        )))
    }
}

pub fn validate_password(password: &str) -> Result<(), AccountError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(AccountError::Invalid(format!(
            "the password is too short: use at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(AccountError::Invalid(format!(
            "the password is too long: at most {MAX_PASSWORD_LEN} bytes"
        )));
    }
    Ok(())
}

/// Argon2id PHC string for `password`, computed on the blocking pool.
pub async fn hash_password(password: String) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| AccountError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| AccountError::Hash(e.to_string()))?
}

/// A PHC string no password matches, verified when the user does not exist
/// so that a wrong name costs as long as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
                          Ew8bXHXG0W2yqVzZuFUhfjdlHx9Z3bJqjZ9n5fG6pXc";

/// Checks `password` against a PHC string on the blocking pool. `None`
/// checks against a dummy hash and fails, taking the same time.
pub async fn verify_password(password: String, phc: Option<String>) -> bool {
    let known = phc.is_some();
    let phc = phc.unwrap_or_else(|| DUMMY_HASH.to_owned());
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && known
    })
    .await
    .unwrap_or(false)
}

/// 32 random bytes as 64 hex characters.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

/// Hex SHA-256 of a secret: what the store keeps for session ids and tokens.
pub fn hash_secret(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Compares two strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Validates, hashes and stores a new user.
pub async fn add_user(
    store: &DynStore,
    name: &str,
    password: &str,
    role: Role,
    actor: &str,
) -> Result<User, AccountError> {
    validate_name(name)?;
    validate_password(password)?;
    let hash = hash_password(password.to_owned()).await?;
    Ok(store.create_user(name, &hash, role, actor).await?)
}

/// Validates, hashes and stores a new password for `name`. The store ends
/// every session of theirs with it (a password change always does), so a
/// stolen session dies with the old password; the caller starts a new one
/// for the person who changed it, if that is them.
pub async fn set_password(
    store: &DynStore,
    name: &str,
    password: &str,
    actor: &str,
) -> Result<User, AccountError> {
    validate_password(password)?;
    let hash = hash_password(password.to_owned()).await?;
    let change = crate::store::UserChange {
        password_hash: Some(hash),
        ..Default::default()
    };
    Ok(store.update_user(name, change, actor).await?)
}

/// The name of the admin account made on the very first start.
pub const BOOTSTRAP_ADMIN: &str = "admin";

/// On a store with no users, creates `admin` with a random password and
/// returns it (to be shown once), so that starting the server is the only
/// step needed before logging in; otherwise does nothing.
pub async fn bootstrap_admin(store: &DynStore) -> Result<Option<String>, AccountError> {
    if !store.list_users().await?.is_empty() {
        return Ok(None);
    }
    // 24 hex characters: 96 bits, short enough to type from a terminal.
    let password = random_secret()[..24].to_owned();
    match add_user(store, BOOTSTRAP_ADMIN, &password, Role::Admin, "bootstrap").await {
        Ok(_) => Ok(Some(password)),
        // Another replica starting at the same moment made it first.
        Err(AccountError::Store(StoreError::AlreadyExists(_))) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates an API token; returns the token (shown once) and its record.
pub async fn add_api_token(
    store: &DynStore,
    name: &str,
    role: Role,
    actor: &str,
) -> Result<(String, ApiToken), AccountError> {
    validate_name(name)?;
    let token = format!("{API_TOKEN_PREFIX}{}", random_secret());
    let record = store
        .create_api_token(name, &hash_secret(&token), role, actor)
        .await?;
    Ok((token, record))
}

/// The live (not revoked) API token whose secret is `token`.
pub async fn find_api_token(store: &DynStore, token: &str) -> Result<Option<ApiToken>, StoreError> {
    if !token.starts_with(API_TOKEN_PREFIX) || token.len() > 200 {
        return Ok(None);
    }
    let hash = hash_secret(token);
    let found = store.api_token_by_hash(&hash).await?;
    Ok(found.filter(|t| constant_time_eq(&t.token_hash, &hash) && t.revoked_at.is_none()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery".into(), Some(hash.clone())).await);
        assert!(!verify_password("wrong horse battery".into(), Some(hash)).await);
        assert!(!verify_password("anything at all".into(), None).await);
    }

    #[test]
    fn the_dummy_hash_parses() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn secrets_are_random_and_hash_to_hex() {
        let a = random_secret();
        let b = random_secret();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        let h = hash_secret(&a);
        assert_eq!(h.len(), 64);
        assert!(constant_time_eq(&h, &hash_secret(&a)));
        assert!(!constant_time_eq(&h, &hash_secret(&b)));
        assert!(!constant_time_eq("ab", "abc"));
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(validate_name("alice.smith@ops").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("a b").is_err());
        assert!(validate_name("<script>").is_err());
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough pass").is_ok());
    }
}
