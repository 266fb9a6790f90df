//! Passwords as stored for accounts. New passwords are hashed with Argon2id (a PHC string,
//! `$argon2id$v=19$...`, with argon2's default cost: 19 MiB, two passes). What the original
//! back end stored still verifies: its `PBKDF2$<hash>$<iterations>$<salt>$<key>` strings, where
//! the salt is used as the Base64 text it is stored as (not decoded) and the key is Base64, and
//! plain-text values. Those two verify with `rehash` set, so that a login replaces them with a
//! new hash. Comparisons take the same time however much of the value matches, and no error
//! names a password or a stored value.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Most PBKDF2 iterations a stored string may ask for: the original wrote 10,000 and
/// mosquitto-auth-plug's tool 901; a value far beyond would only make a login hang.
const MAX_ITERATIONS: u32 = 10_000_000;

/// Why a password could not be hashed or a stored value not read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("the password is empty")]
    Empty,
    #[error("a stored {form} password hash cannot be read: {reason}")]
    Unreadable { form: &'static str, reason: String },
    #[error("hashing the password failed: {reason}")]
    Hash { reason: String },
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The password is right; `rehash` when the stored form is an old one (PBKDF2 or plain
    /// text) that should be replaced by [`hash`]'s.
    Yes {
        rehash: bool,
    },
    No,
}

/// A new Argon2id hash of `password`, with a random salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Empty);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| PasswordError::Hash { reason: error.to_string() })
}

/// A new random password: 18 bytes from the system's generator as 24 URL-safe Base64
/// characters (144 bits).
pub fn generate() -> Result<String, PasswordError> {
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes)
        .map_err(|error| PasswordError::Hash { reason: error.to_string() })?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The form of a stored value, for listings: `argon2id`, `PBKDF2` or `plain`.
pub fn form(stored: &str) -> &'static str {
    if stored.starts_with("$argon2") {
        "argon2id"
    } else if stored.starts_with("PBKDF2$") {
        "PBKDF2"
    } else {
        "plain"
    }
}

/// Whether `password` is the one `stored` was made from.
pub fn verify(stored: &str, password: &str) -> Result<Verified, PasswordError> {
    if stored.starts_with("$argon2") {
        let result = Argon2::default().verify_password(password.as_bytes(), stored);
        return match result {
            Ok(()) => Ok(Verified::Yes { rehash: false }),
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(Verified::No),
            Err(error) => {
                Err(PasswordError::Unreadable { form: "argon2", reason: error.to_string() })
            }
        };
    }
    let matches = match stored.strip_prefix("PBKDF2$") {
        Some(rest) => pbkdf2_matches(rest, password)?,
        None => same(stored.as_bytes(), password.as_bytes()),
    };
    Ok(if matches { Verified::Yes { rehash: true } } else { Verified::No })
}

/// The original's `<hash>$<iterations>$<salt>$<key>` (after `PBKDF2$`).
fn pbkdf2_matches(fields: &str, password: &str) -> Result<bool, PasswordError> {
    let unreadable =
        |reason: &str| PasswordError::Unreadable { form: "PBKDF2", reason: reason.to_owned() };
    let parts: Vec<&str> = fields.split('$').collect();
    let [algorithm, iterations, salt, key] = parts[..] else {
        return Err(unreadable("expected PBKDF2$<hash>$<iterations>$<salt>$<key>"));
    };
    let iterations = match iterations.parse::<u32>() {
        Ok(n) if (1..=MAX_ITERATIONS).contains(&n) => n,
        _ => return Err(unreadable(&format!("iterations are not 1 to {MAX_ITERATIONS}"))),
    };
    let key = STANDARD.decode(key).map_err(|_| unreadable("the key is not Base64"))?;
    if key.is_empty() {
        return Err(unreadable("the key is empty"));
    }
    let mut derived = vec![0; key.len()];
    // The salt goes in as the text it is stored as, as the original did.
    let (password, salt) = (password.as_bytes(), salt.as_bytes());
    match algorithm {
        "sha256" => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, &mut derived),
        "sha512" => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, iterations, &mut derived),
        other => return Err(unreadable(&format!("hash {other:?} is not sha256 or sha512"))),
    }
    Ok(same(&derived, &key))
}

/// Compares in time that depends on the lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    let differ = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    differ == 0 && a.len() == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const YES_OLD: Result<Verified, PasswordError> = Ok(Verified::Yes { rehash: true });

    /// The original's own hashes (`seed-inventory.md` §6), made by its Python code.
    #[test]
    fn the_originals_pbkdf2_strings_verify_with_the_salt_as_text() {
        let cases = [
            ("PBKDF2$sha256$10000$c2FsdHNhbHRzYWx0$nOH9hDiBEAIOcpfyWKR8cpV1WbvXvMJ0", "secret"),
            ("PBKDF2$sha256$901$c2FsdHNhbHRzYWx0$WeL2cKP8QK7vMB/Y6UJ17XnoDB6G0uuh", "secret"),
            ("PBKDF2$sha256$10000$c2FsdHNhbHRzYWx0$OToDSSuzjzYZq67zRKThwMnclSwdBWFE", "sécret"),
        ];
        for (stored, password) in cases {
            assert_eq!(verify(stored, password), YES_OLD, "{stored}");
            assert_eq!(verify(stored, "Secret"), Ok(Verified::No), "{stored}");
        }
        // What the salt decoded from Base64 would give: it must not be taken.
        let decoded = "PBKDF2$sha256$10000$c2FsdHNhbHRzYWx0$PDdWE3MFdVeoZSQyTAFebtzLM5x8LX6Q";
        assert_eq!(verify(decoded, "secret"), Ok(Verified::No));
    }

    #[test]
    fn new_hashes_are_argon2id_and_verify_without_rehash() {
        let stored = hash("correct horse").unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert_eq!(verify(&stored, "correct horse"), Ok(Verified::Yes { rehash: false }));
        assert_eq!(verify(&stored, "correct horse "), Ok(Verified::No));
        assert_ne!(hash("correct horse").unwrap(), stored, "each hash has its own salt");
        assert_eq!(hash(""), Err(PasswordError::Empty));
    }

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let (a, b) = (generate().unwrap(), generate().unwrap());
        assert_eq!((a.len(), b.len()), (24, 24));
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{a}");
        assert_eq!(
            [form(&hash(&a).unwrap()), form("PBKDF2$x"), form(&a)],
            ["argon2id", "PBKDF2", "plain"]
        );
    }

    #[test]
    fn plain_text_values_verify_and_ask_for_a_rehash() {
        assert_eq!(verify("secret", "secret"), YES_OLD);
        assert_eq!(verify("secret", "secre"), Ok(Verified::No));
        assert_eq!(verify("secret", "secrets"), Ok(Verified::No));
    }

    #[test]
    fn unreadable_strings_say_why_without_the_value() {
        let cases = [
            ("PBKDF2$md5$1000$c2FsdA$a2V5", "hash \"md5\" is not sha256 or sha512"),
            ("PBKDF2$sha256$0$c2FsdA$a2V5", "iterations are not 1 to 10000000"),
            ("PBKDF2$sha256$99999999999$c2FsdA$a2V5", "iterations are not 1 to 10000000"),
            ("PBKDF2$sha256$1000$c2FsdA$not base64!", "the key is not Base64"),
            ("PBKDF2$sha256$1000$c2FsdA", "expected PBKDF2$<hash>$<iterations>$<salt>$<key>"),
        ];
        for (stored, reason) in cases {
            let error = verify(stored, "secret").unwrap_err();
            assert_eq!(
                error,
                PasswordError::Unreadable { form: "PBKDF2", reason: reason.to_owned() },
                "{stored}"
            );
            assert!(!error.to_string().contains("secret"));
        }
        let error = verify("$argon2id$v=19$broken", "secret").unwrap_err();
        assert!(matches!(error, PasswordError::Unreadable { form: "argon2", .. }), "{error:?}");
    }
}
