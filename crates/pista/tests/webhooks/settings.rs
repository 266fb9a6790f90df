//! The webhook settings: URLs are checked at start-up, and their passwords stay masked in errors
//! and in `pista config`.

use pista::settings::{RawSettings, effective_toml};

fn load(env: &[(&str, &str)]) -> RawSettings {
    let env: Vec<(String, String)> =
        env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let lookup = |var: &str| env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone());
    RawSettings::load(None, lookup, &[]).unwrap()
}

#[test]
fn webhook_settings_have_defaults_and_read_lists() {
    let defaults = load(&[]).validate().unwrap();
    assert_eq!(
        (defaults.webhooks, defaults.webhook_attempts, defaults.webhook_timeout),
        (Vec::<String>::new(), 5, 10)
    );
    let set = load(&[
        ("PISTA_WEBHOOKS", "https://hooks.example/a, http://127.0.0.1:9000/b"),
        ("PISTA_WEBHOOK_ATTEMPTS", "3"),
        ("PISTA_WEBHOOK_TIMEOUT", "2"),
    ])
    .validate()
    .unwrap();
    assert_eq!(
        (set.webhooks, set.webhook_attempts, set.webhook_timeout),
        (vec!["https://hooks.example/a".to_owned(), "http://127.0.0.1:9000/b".to_owned()], 3, 2)
    );
}

#[test]
fn bad_webhooks_are_named_with_their_passwords_masked() {
    let cases = [
        (
            ("PISTA_WEBHOOKS", "https://jane:pw1@hooks.example/a,ftp://joe:pw2@files.example"),
            "invalid outputs.webhooks = \
             \"https://jane:***@hooks.example/a,ftp://joe:***@files.example\" (from environment \
             PISTA_WEBHOOKS): http:// or https:// URLs, comma-separated \
             (\"ftp://joe:***@files.example\" is not one)",
        ),
        (
            ("PISTA_WEBHOOKS", "hooks.example/alert"),
            "invalid outputs.webhooks = \"hooks.example/alert\" (from environment PISTA_WEBHOOKS): \
             http:// or https:// URLs, comma-separated (\"hooks.example/alert\" is not one)",
        ),
        (
            ("PISTA_WEBHOOK_ATTEMPTS", "0"),
            "invalid outputs.webhook_attempts = \"0\" (from environment PISTA_WEBHOOK_ATTEMPTS): \
             a whole number from 1 to 20",
        ),
        (
            ("PISTA_WEBHOOK_TIMEOUT", "601"),
            "invalid outputs.webhook_timeout = \"601\" (from environment PISTA_WEBHOOK_TIMEOUT): \
             a whole number from 1 to 600",
        ),
    ];
    for (env, want) in cases {
        let error = load(&[env]).validate().unwrap_err();
        assert_eq!(error.to_string(), want);
    }
}

#[test]
fn the_effective_config_masks_each_webhook_password() {
    let raw = load(&[("PISTA_WEBHOOKS", "https://a:s3cret@one.example/x,https://two.example/y")]);
    let text = effective_toml(&raw);
    let line = "webhooks = [\"https://a:***@one.example/x\", \"https://two.example/y\"]  \
                # environment PISTA_WEBHOOKS";
    assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    assert!(!text.contains("s3cret"), "{text}");
}
