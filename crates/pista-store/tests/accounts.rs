//! Users and ACLs of [`AccountStore`] on every backend: hashes come back exactly as given,
//! adding twice changes nothing, removing a user takes the user's ACL entries, and the
//! `(user, topic)` key keeps one entry per filter.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use pista_core::UserName;
use pista_store::{Access, Account, AccountStore, Acl, PasswordHash, SqlStore};

/// The original back end's test vector (seed-inventory §6): `secret` with 10000 iterations.
const PBKDF2: &str = "PBKDF2$sha256$10000$c2FsdHNhbHRzYWx0$nOH9hDiBEAIOcpfyWKR8cpV1WbvXvMJ0";

fn user(name: &str) -> UserName {
    UserName::parse(name).unwrap()
}

fn account(name: &str, hash: &str, superuser: bool) -> Account {
    Account {
        name: user(name),
        password: PasswordHash::new(hash).unwrap(),
        superuser,
        created_at: 1_700_000_000,
    }
}

async fn users_keep_their_hashes(store: &SqlStore) {
    assert!(store.add_user(&account("jane", PBKDF2, true)).await.unwrap());
    assert!(store.add_user(&account("bob", "plain-secret", false)).await.unwrap());
    // A second add of the same name leaves the first as it was.
    assert!(!store.add_user(&account("jane", "other", false)).await.unwrap());

    let all = store.accounts().await.unwrap();
    assert_eq!(all, vec![account("bob", "plain-secret", false), account("jane", PBKDF2, true)]);
    let jane = store.user(&user("jane")).await.unwrap().unwrap();
    assert_eq!(jane.password.as_str(), PBKDF2);
    assert!(jane.password.is_pbkdf2());
    assert_eq!(format!("{:?}", jane.password), "PasswordHash(PBKDF2, ***)");
    assert_eq!(store.user(&user("nobody")).await.unwrap(), None);

    let new =
        PasswordHash::new("PBKDF2$sha256$901$c2FsdHNhbHRzYWx0$WeL2cKP8QK7vMB/Y6UJ17XnoDB6G0uuh");
    assert!(store.set_password(&user("bob"), &new.clone().unwrap()).await.unwrap());
    assert!(!store.set_password(&user("nobody"), &new.clone().unwrap()).await.unwrap());
    let bob = store.user(&user("bob")).await.unwrap().unwrap();
    assert_eq!(bob.password, new.unwrap());
}

async fn acls_are_unique_per_user_and_topic(store: &SqlStore) {
    let read = Acl::new(user("jane"), "owntracks/#", Access::Read).unwrap();
    let own = Acl::new(user("jane"), "owntracks/%u/+", Access::ReadWrite).unwrap();
    let bob = Acl::new(user("bob"), "owntracks/bob/#", Access::ReadWrite).unwrap();
    assert!(store.add_acl(&read).await.unwrap());
    assert!(store.add_acl(&own).await.unwrap());
    assert!(store.add_acl(&bob).await.unwrap());
    // The same filter again, even with other access, adds nothing and changes nothing.
    let again = Acl::new(user("jane"), "owntracks/#", Access::ReadWrite).unwrap();
    assert!(!store.add_acl(&again).await.unwrap());

    assert_eq!(store.acls(None).await.unwrap(), vec![bob.clone(), read.clone(), own.clone()]);
    assert_eq!(store.acls(Some(&user("jane"))).await.unwrap(), vec![read.clone(), own.clone()]);

    assert!(store.remove_acl(&user("jane"), "owntracks/#").await.unwrap());
    assert!(!store.remove_acl(&user("jane"), "owntracks/#").await.unwrap());
    assert_eq!(store.acls(Some(&user("jane"))).await.unwrap(), vec![own]);
}

async fn removing_a_user_takes_the_acls(store: &SqlStore) {
    store.add_user(&account("jane", PBKDF2, false)).await.unwrap();
    store.add_user(&account("bob", PBKDF2, false)).await.unwrap();
    let bob = Acl::new(user("bob"), "owntracks/bob/#", Access::ReadWrite).unwrap();
    store.add_acl(&Acl::new(user("jane"), "owntracks/#", Access::Read).unwrap()).await.unwrap();
    store.add_acl(&bob).await.unwrap();

    assert!(store.remove_user(&user("jane")).await.unwrap());
    assert!(!store.remove_user(&user("jane")).await.unwrap());
    assert_eq!(store.accounts().await.unwrap(), vec![account("bob", PBKDF2, false)]);
    assert_eq!(store.acls(None).await.unwrap(), vec![bob]);
}

backends!(
    users_keep_their_hashes,
    acls_are_unique_per_user_and_topic,
    removing_a_user_takes_the_acls
);

#[test]
fn values_are_checked() {
    assert_eq!(PasswordHash::new("").unwrap_err().to_string(), "the password hash is empty");
    let long = "x".repeat(256);
    assert_eq!(
        PasswordHash::new(&long).unwrap_err().to_string(),
        "the password hash is 256 bytes long, more than 255"
    );
    assert_eq!(Access::from_code(3).unwrap(), Access::ReadWrite);
    assert_eq!(
        Access::from_code(7).unwrap_err().to_string(),
        "acl rw 7 is neither 1 (read) nor 2 (read and write)"
    );
    assert_eq!(
        Acl::new(user("jane"), "", Access::Read).unwrap_err().to_string(),
        "acl topic \"\" is empty or longer than 255 bytes"
    );
    assert_eq!(format!("{:?}", PasswordHash::new("hunter2").unwrap()), "PasswordHash(plain, ***)");
}
