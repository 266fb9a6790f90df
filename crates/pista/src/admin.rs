//! Administration commands: `pista secret` (a device's encryption secret, read from standard
//! input so it never sits in shell history or process lists, and never printed), `pista friend`
//! (who sees whom in HTTP-mode answers), `pista card` (names and faces for those answers),
//! `pista quarantine` (what could not be used, and its replay after a fix), `pista cmd` (a
//! command to a device) and `pista monitor` (the o2smonitor commands). Secrets, friends and the
//! quarantine list work on the database directly, so they need no running server; `cmd`,
//! `monitor` and the replay go through the running server's API, which owns the broker
//! connection, the ingest pipeline and the device objects.

use std::io::BufRead;

use anyhow::{Context, anyhow, bail};
use clap::ArgMatches;
use pista_core::{DeviceKey, DeviceName, UserName};
use pista_store::{SqlStore, Storage};
use serde_json::Value;

use crate::cli;
use crate::settings::Settings;

/// Runs `pista secret ...`; returns what to print.
pub async fn secret(args: &ArgMatches) -> anyhow::Result<String> {
    let (verb, args) = args.subcommand().ok_or_else(|| anyhow!("missing subcommand"))?;
    let (settings, store) = open(args).await?;
    let _ = settings;
    let now = pista_ingest::now();
    match verb {
        "set" => {
            let key = device_key(args)?;
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("cannot read standard input")?;
            let secret = line.trim_end_matches(['\r', '\n']);
            pista_core::crypto::Secret::new(secret)
                .map_err(|_| anyhow!("the secret is empty; type it on standard input"))?;
            let existed = store.set_secret(&key, Some(secret), now).await?;
            let verb = if existed { "replaced" } else { "set" };
            Ok(format!(
                "secret {verb} for {key}; messages quarantined as no_key or bad_key can now be \
                 replayed with: pista quarantine replay --user {} --device {}\n",
                key.user, key.device
            ))
        }
        "del" => {
            let key = device_key(args)?;
            match store.set_secret(&key, None, now).await? {
                true => Ok(format!("secret removed for {key}\n")),
                false => bail!("{key} has no secret"),
            }
        }
        _ => {
            let keys = store.secrets().await?;
            Ok(keys.iter().map(|k| format!("{k}\n")).collect())
        }
    }
}

/// Runs `pista friend ...`.
pub async fn friend(args: &ArgMatches) -> anyhow::Result<String> {
    let (verb, args) = args.subcommand().ok_or_else(|| anyhow!("missing subcommand"))?;
    let (_, store) = open(args).await?;
    let user = user(args, "user")?;
    if verb == "list" {
        let friends = store.friends(&user).await?;
        return Ok(friends
            .iter()
            .map(|(friend, device)| match device {
                Some(device) => format!("{friend}/{device}\n"),
                None => format!("{friend} (all devices)\n"),
            })
            .collect());
    }
    let friend = self::user(args, "friend")?;
    let device = args
        .get_one::<String>("device")
        .map(|d| DeviceName::parse(d))
        .transpose()
        .map_err(|e| anyhow!("{e}"))?;
    let what = match &device {
        Some(device) => format!("{friend}/{device}"),
        None => format!("every device of {friend}"),
    };
    if verb == "add" {
        let added = store.add_friend(&user, &friend, device.as_ref()).await?;
        Ok(if added {
            format!("{user} now sees {what} in HTTP mode\n")
        } else {
            format!("{user} already sees {what}\n")
        })
    } else if store.remove_friend(&user, &friend, device.as_ref()).await? {
        Ok(format!("{user} no longer sees {what}\n"))
    } else {
        bail!("{user} had no friend entry for {what}")
    }
}

/// Runs `pista user add|passwd|del|list`. Passwords come from standard input and are stored
/// as Argon2id hashes; a generated one is printed once. No password or hash is ever printed.
pub async fn account(args: &ArgMatches) -> anyhow::Result<String> {
    use pista_core::password;
    use pista_store::{Account, AccountStore, PasswordHash};

    let (verb, args) = args.subcommand().ok_or_else(|| anyhow!("missing subcommand"))?;
    let (_, store) = open(args).await?;
    if verb == "list" {
        let accounts = store.accounts().await?;
        return Ok(accounts
            .iter()
            .map(|account| {
                format!(
                    "{}\t{}\tcreated {}\t{} password\n",
                    account.name,
                    if account.superuser { "admin" } else { "user" },
                    pista_core::time::iso(account.created_at),
                    password::form(account.password.as_str())
                )
            })
            .collect());
    }
    let name = user(args, "user")?;
    match verb {
        "add" => {
            let typed = stdin_line()?;
            let generated = typed.is_empty();
            let clear = if generated { password::generate()? } else { typed };
            let hash = PasswordHash::new(&password::hash(&clear)?)?;
            let superuser = args.get_flag("admin");
            let account =
                Account { name: name.clone(), password: hash, superuser, created_at: now() };
            if !store.add_user(&account).await? {
                bail!("user {name} exists already; pista user passwd {name} sets a new password");
            }
            let role = if superuser { "administrator" } else { "user" };
            let mut said = format!("{role} {name} added\n");
            if generated {
                said.push_str(&format!(
                    "password: {clear}\n(shown only now; pista user passwd {name} changes it)\n"
                ));
            }
            Ok(said)
        }
        "passwd" => {
            let typed = stdin_line()?;
            if typed.is_empty() {
                bail!("the password is empty; type it on standard input");
            }
            let hash = PasswordHash::new(&password::hash(&typed)?)?;
            if !store.set_password(&name, &hash).await? {
                bail!("unknown user {:?}", name.as_str());
            }
            let ended = store.end_sessions(&name, None).await?;
            Ok(format!("password of {name} changed; {ended} browser session(s) ended\n"))
        }
        _ => {
            if !store.remove_user(&name).await? {
                bail!("unknown user {:?}", name.as_str());
            }
            Ok(format!(
                "user {name} removed with its ACL entries, groups, tokens and shares; its \
                 history stays\n"
            ))
        }
    }
}

/// Runs `pista acl add|del|list`.
pub async fn acl(args: &ArgMatches) -> anyhow::Result<String> {
    use pista_store::{Access, AccountStore, Acl};

    let (verb, args) = args.subcommand().ok_or_else(|| anyhow!("missing subcommand"))?;
    let (_, store) = open(args).await?;
    let shown = |acl: &Acl| {
        let access = match acl.access {
            Access::Read => "read",
            Access::ReadWrite => "read and write",
        };
        format!("{}\t{}\t{access}\n", acl.user, acl.topic)
    };
    if verb == "list" {
        let user = args.get_one::<String>("user").map(|_| user(args, "user")).transpose()?;
        let acls = store.acls(user.as_ref()).await?;
        return Ok(acls.iter().map(shown).collect());
    }
    let name = user(args, "user")?;
    let filter = args.get_one::<String>("filter").map_or("", String::as_str);
    if verb == "del" {
        if !store.remove_acl(&name, filter).await? {
            bail!("{name} has no acl entry {filter:?}");
        }
        return Ok(format!("{name} no longer has {filter}\n"));
    }
    if store.user(&name).await?.is_none() {
        bail!("unknown user {:?}; add it first with pista user add {name}", name.as_str());
    }
    let access = if args.get_flag("write") { Access::ReadWrite } else { Access::Read };
    let acl = Acl::new(name.clone(), filter, access)?;
    if !store.add_acl(&acl).await? {
        let existing = store.acls(Some(&name)).await?;
        let old = existing.iter().find(|a| a.topic == acl.topic).map_or(String::new(), shown);
        bail!("{name} has an entry for {filter} already: {}", old.trim_end());
    }
    Ok(shown(&acl))
}

/// Runs `pista group add|del|list`.
pub async fn group(args: &ArgMatches) -> anyhow::Result<String> {
    use pista_core::GroupName;
    use pista_store::AccountStore;

    let (verb, args) = args.subcommand().ok_or_else(|| anyhow!("missing subcommand"))?;
    let (_, store) = open(args).await?;
    if verb == "list" {
        let mut out = String::new();
        let members = store.members().await?;
        for (group, users) in
            &members.iter().fold(Vec::<(&GroupName, Vec<&str>)>::new(), |mut acc, (g, u)| {
                match acc.last_mut() {
                    Some((last, users)) if *last == g => users.push(u.as_str()),
                    _ => acc.push((g, vec![u.as_str()])),
                }
                acc
            })
        {
            out.push_str(&format!("{group}\t{}\n", users.join(" ")));
        }
        return Ok(out);
    }
    let text = args.get_one::<String>("group").map_or("", String::as_str);
    let group = GroupName::parse(text).map_err(|e| anyhow!("{e}"))?;
    let users = args
        .get_many::<String>("user")
        .into_iter()
        .flatten()
        .map(|u| UserName::parse(u).map_err(|e| anyhow!("{e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if verb == "add" {
        for user in &users {
            if store.user(user).await?.is_none() {
                bail!("unknown user {:?}; add it first with pista user add {user}", user.as_str());
            }
            store.add_member(&group, user).await?;
        }
        let names: Vec<&str> = users.iter().map(UserName::as_str).collect();
        return Ok(format!("{group}: {} added\n", names.join(" ")));
    }
    if users.is_empty() {
        let removed = store.remove_members(&group, None).await?;
        if removed == 0 {
            bail!("there is no group {group}");
        }
        return Ok(format!("group {group} removed ({removed} members)\n"));
    }
    for user in &users {
        if store.remove_members(&group, Some(user)).await? == 0 {
            bail!("{user} is not in group {group}");
        }
    }
    Ok(format!("{} members left {group}\n", users.len()))
}

/// Runs `pista share add|del|list`.
pub async fn share(args: &ArgMatches) -> anyhow::Result<String> {
    use pista_core::GroupName;
    use pista_core::access::{Grantee, Share};
    use pista_store::AccountStore;

    let (verb, args) = args.subcommand().ok_or_else(|| anyhow!("missing subcommand"))?;
    let (_, store) = open(args).await?;
    let shown = |share: &Share| {
        let device = share.device.as_ref().map_or("(all devices)".to_owned(), ToString::to_string);
        let until = share
            .until
            .map_or("no end".to_owned(), |t| format!("until {}", pista_core::time::iso(t)));
        format!("{}\t{}\t{device}\tto {}\t{until}\n", share.id, share.owner, share.to)
    };
    match verb {
        "list" => {
            let owner = args.get_one::<String>("owner").map(|_| user(args, "owner")).transpose()?;
            Ok(store.shares(owner.as_ref()).await?.iter().map(shown).collect())
        }
        "del" => {
            let text = args.get_one::<String>("id").map_or("", String::as_str);
            let id: i64 = text.parse().map_err(|_| anyhow!("share id {text:?} is not a number"))?;
            if !store.remove_share(id).await? {
                bail!("there is no share {id}");
            }
            Ok(format!("share {id} removed\n"))
        }
        _ => {
            let owner = user(args, "owner")?;
            if store.user(&owner).await?.is_none() {
                bail!("unknown user {:?}", owner.as_str());
            }
            let device = args
                .get_one::<String>("device")
                .map(|d| pista_core::DeviceName::parse(d).map_err(|e| anyhow!("{e}")))
                .transpose()?;
            let to = match (args.get_one::<String>("to"), args.get_one::<String>("group")) {
                (Some(_), _) => {
                    let to = user(args, "to")?;
                    if store.user(&to).await?.is_none() {
                        bail!("unknown user {:?}", to.as_str());
                    }
                    if to == owner {
                        bail!("{owner} sees their own devices already");
                    }
                    Grantee::User(to)
                }
                (None, Some(group)) => {
                    let group = GroupName::parse(group).map_err(|e| anyhow!("{e}"))?;
                    if !store.members().await?.iter().any(|(g, _)| *g == group) {
                        bail!(
                            "there is no group {group} (a group exists while it has members: \
                             pista group add {group} USER)"
                        );
                    }
                    Grantee::Group(group)
                }
                (None, None) => bail!("give --to USER or --group GROUP"),
            };
            let until = match args.get_one::<String>("until") {
                Some(text) => {
                    Some(pista_core::time::parse_bound(text).map_err(|e| anyhow!("--until: {e}"))?)
                }
                None => None,
            };
            if until.is_some_and(|until| until <= now()) {
                bail!("--until is in the past");
            }
            let mut share = Share { id: 0, owner, device, to, until, created_at: now() };
            share.id = store.add_share(&share).await?;
            Ok(shown(&share))
        }
    }
}

/// Runs `pista token add|del|list`. A new token is printed once; only its digest is kept.
pub async fn token(args: &ArgMatches) -> anyhow::Result<String> {
    use pista_store::{AccountStore, TokenKind};

    let (verb, args) = args.subcommand().ok_or_else(|| anyhow!("missing subcommand"))?;
    let (_, store) = open(args).await?;
    let name = user(args, "user")?;
    if store.user(&name).await?.is_none() {
        bail!("unknown user {:?}", name.as_str());
    }
    match verb {
        "list" => {
            let tokens = store.tokens(&name, TokenKind::Api).await?;
            Ok(tokens
                .iter()
                .map(|t| {
                    let expires = t.expires_at.map_or("never".to_owned(), pista_core::time::iso);
                    format!(
                        "{}\t{}\tcreated {}\texpires {expires}\n",
                        t.id,
                        t.label,
                        pista_core::time::iso(t.created_at)
                    )
                })
                .collect())
        }
        "del" => {
            let text = args.get_one::<String>("id").map_or("", String::as_str);
            let id: i64 = text.parse().map_err(|_| anyhow!("token id {text:?} is not a number"))?;
            let own = store.tokens(&name, TokenKind::Api).await?.iter().any(|t| t.id == id);
            if !own || !store.remove_token(id).await? {
                bail!("{name} has no token {id}");
            }
            Ok(format!("token {id} of {name} revoked\n"))
        }
        _ => {
            let label = args.get_one::<String>("label").map_or("", String::as_str);
            let lifetime = args
                .get_one::<u64>("days")
                .map(|days| std::time::Duration::from_secs(days * 86_400));
            let (raw, token) =
                pista_ingest::make_token(&name, TokenKind::Api, label, lifetime, now())?;
            let id = store.add_token(&token).await?;
            Ok(format!("token {id} for {name}: {raw}\n(shown only now)\n"))
        }
    }
}

/// Runs `pista ctrld set|del|list`.
pub async fn ctrld(args: &ArgMatches) -> anyhow::Result<String> {
    use pista_store::{AccountStore, CtrlSettings};

    let (verb, args) = args.subcommand().ok_or_else(|| anyhow!("missing subcommand"))?;
    let (_, store) = open(args).await?;
    let shown = |row: &CtrlSettings| {
        let who = row.user.as_ref().map_or("(everyone)".to_owned(), ToString::to_string);
        let mut parts = vec![who];
        let mut add = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                parts.push(format!("{name}={value}"));
            }
        };
        add("host", row.host.clone());
        add("port", row.port.map(|p| p.to_string()));
        add("tls", row.tls.map(|t| t.to_string()));
        add("auth", row.auth.map(|a| a.to_string()));
        add("certurl", row.certurl.clone());
        add("trackurl", row.trackurl.clone());
        format!("{}\n", parts.join("\t"))
    };
    if verb == "list" {
        return Ok(store.ctrl_settings().await?.iter().map(shown).collect());
    }
    let user = args.get_one::<String>("user").map(|_| user(args, "user")).transpose()?;
    if let Some(user) = &user
        && store.user(user).await?.is_none()
    {
        bail!("unknown user {:?}", user.as_str());
    }
    if verb == "del" {
        if !store.remove_ctrl_settings(user.as_ref()).await? {
            bail!("there are no such ctrld settings");
        }
        return Ok("ctrld settings removed\n".to_owned());
    }
    let mut row = store
        .ctrl_settings()
        .await?
        .into_iter()
        .find(|row| row.user == user)
        .unwrap_or(CtrlSettings { user, ..CtrlSettings::default() });
    let text = |name: &str| args.get_one::<String>(name).cloned();
    row.host = text("host").or(row.host);
    row.port = args.get_one::<u16>("port").copied().or(row.port);
    row.tls = args.get_one::<bool>("tls").copied().or(row.tls);
    row.auth = args.get_one::<bool>("auth").copied().or(row.auth);
    row.certurl = text("certurl").or(row.certurl);
    row.trackurl = text("trackurl").or(row.trackurl);
    store.set_ctrl_settings(&row).await?;
    Ok(shown(&row))
}

/// One line of standard input without its line break (empty at the end of input).
fn stdin_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn now() -> i64 {
    pista_ingest::now()
}

/// Runs `pista card set|list`.
pub async fn card(args: &ArgMatches) -> anyhow::Result<String> {
    let (verb, args) = args.subcommand().ok_or_else(|| anyhow!("missing subcommand"))?;
    let (_, store) = open(args).await?;
    if verb == "list" {
        let cards = store.cards(None).await?;
        return Ok(cards
            .iter()
            .map(|c| {
                let owner = match &c.device {
                    Some(device) => format!("{}/{device}", c.user),
                    None => format!("{} (user)", c.user),
                };
                let face = c.face.as_ref().map_or(0, String::len);
                let name = c.name.as_deref().unwrap_or("-");
                format!("{owner}: name {name:?}, face {face} base64 characters\n")
            })
            .collect());
    }
    let user = user(args, "user")?;
    let device = args
        .get_one::<String>("device")
        .map(|d| DeviceName::parse(d))
        .transpose()
        .map_err(|e| anyhow!("{e}"))?;
    let owner = match &device {
        Some(device) => format!("{user}/{device}"),
        None => user.to_string(),
    };
    if verb == "del" {
        return match store.remove_card(&user, device.as_ref()).await? {
            true => Ok(format!("card removed for {owner}\n")),
            false => bail!("{owner} has no card"),
        };
    }
    let face = match args.get_one::<String>("face") {
        Some(path) => {
            use base64::Engine;
            let bytes = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
            let image = bytes.starts_with(b"\x89PNG") || bytes.starts_with(b"\xFF\xD8");
            if !image {
                bail!("{path} is neither a PNG nor a JPEG image");
            }
            Some(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        None => None,
    };
    let name = args.get_one::<String>("name").cloned();
    if name.as_ref().is_some_and(|n| n.trim().is_empty()) {
        bail!("the name is empty");
    }
    if name.is_none() && face.is_none() {
        bail!("give --name, --face or both");
    }
    let card = pista_core::Card { name, face, tid: None };
    store.set_card(&user, device.as_ref(), &card, pista_ingest::now()).await?;
    Ok(match device {
        Some(device) => format!("card set for {user}/{device}\n"),
        None => format!("card set for {user} (used for devices without their own)\n"),
    })
}

/// Runs `pista quarantine [replay]`.
pub async fn quarantine(args: &ArgMatches) -> anyhow::Result<String> {
    if let Some(("replay", args)) = args.subcommand() {
        let settings = cli::raw_settings(args)?.validate()?;
        let mut body = serde_json::Map::new();
        for name in ["user", "device", "reason"] {
            if let Some(value) = args.get_one::<String>(name) {
                body.insert(name.to_owned(), Value::String(value.clone()));
            }
        }
        let answer = call_api(&settings, "/api/0/quarantine/replay", Value::Object(body)).await?;
        return Ok(format!("{answer}\n"));
    }
    let (_, store) = open(args).await?;
    let key = match (args.get_one::<String>("user"), args.get_one::<String>("device")) {
        (Some(user), Some(device)) => Some(DeviceKey::parse(user, device)?),
        (None, None) => None,
        _ => bail!("give both --user and --device, or neither"),
    };
    let mut out = String::new();
    for item in store.quarantined(key.as_ref()).await? {
        if item.released_at.is_some() && !args.get_flag("all") {
            continue;
        }
        let device = item.key.map(|k| k.to_string()).unwrap_or_else(|| "-".to_owned());
        let released = item.released_at.map(|t| format!(" released {}", pista_core::time::iso(t)));
        out.push_str(&format!(
            "{} {} {} {} {}: {}{}\n",
            item.id,
            pista_core::time::iso(item.received_at),
            device,
            item.topic,
            item.reason,
            item.problem,
            released.unwrap_or_default()
        ));
    }
    Ok(out)
}

/// Runs `pista cmd USER DEVICE ACTION [JSON]` against the running server.
pub async fn cmd(args: &ArgMatches) -> anyhow::Result<String> {
    let settings = cli::raw_settings(args)?.validate()?;
    let key = device_key(args)?;
    let action = args.get_one::<String>("action").cloned().unwrap_or_default();
    let mut body = match args.get_one::<String>("json") {
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => object,
            _ => bail!("the extra members must be a JSON object, e.g. '{{\"waypoints\":{{...}}}}'"),
        },
        None => serde_json::Map::new(),
    };
    if let Some(name) = ["user", "device", "action"].into_iter().find(|n| body.contains_key(*n)) {
        bail!("the extra members may not set {name}; give it as an argument");
    }
    body.insert("user".to_owned(), Value::String(key.user.to_string()));
    body.insert("device".to_owned(), Value::String(key.device.to_string()));
    body.insert("action".to_owned(), Value::String(action));
    let answer = call_api(&settings, "/api/0/cmd", Value::Object(body)).await?;
    Ok(format!("{answer}\n"))
}

/// Runs `pista monitor COMMAND [ARGUMENT]` against the running server; returns its answer.
pub async fn monitor(settings: &Settings, command: &str, argument: &str) -> anyhow::Result<String> {
    let body = serde_json::json!({"command": command, "argument": argument});
    let answer = call_api(settings, "/api/0/monitor", body).await?;
    let reply = answer.get("reply").and_then(Value::as_str);
    reply.map(str::to_owned).ok_or_else(|| anyhow!("the server answered without a reply: {answer}"))
}

/// Opens the database `pista serve` uses with the same settings. It must exist: a command run
/// from another directory (or without the server's `--data-dir`/`--config`) would otherwise
/// quietly create a second database the server never reads.
pub(crate) async fn open(args: &ArgMatches) -> anyhow::Result<(Settings, SqlStore)> {
    let settings = cli::raw_settings(args)?.validate()?;
    let url = &settings.database;
    if let Some(path) = pista_store::sqlite_file(url)
        && !path.exists()
    {
        bail!(
            "there is no database at {}; give the --data-dir or --config that \
             pista serve uses (and start it once to create the database)",
            path.display()
        );
    }
    let store = SqlStore::open(url).await?;
    Ok((settings, store))
}

fn user(args: &ArgMatches, name: &str) -> anyhow::Result<UserName> {
    let text = args.get_one::<String>(name).map(String::as_str).unwrap_or_default();
    UserName::parse(text).map_err(|e| anyhow!("{e}"))
}

fn device_key(args: &ArgMatches) -> anyhow::Result<DeviceKey> {
    let user = args.get_one::<String>("user").map(String::as_str).unwrap_or_default();
    let device = args.get_one::<String>("device").map(String::as_str).unwrap_or_default();
    DeviceKey::parse(user, device).map_err(|e| anyhow!("{e}"))
}

/// A token for the first superuser that lives five minutes, stored in the server's database,
/// with the store and its id (to remove it after the call). `None` when the database does not
/// exist yet or has no superuser: the call then goes without, and the server says why not.
async fn mint(settings: &Settings) -> anyhow::Result<Option<(SqlStore, String, i64)>> {
    use pista_store::{AccountStore, TokenKind};
    if let Some(path) = pista_store::sqlite_file(&settings.database)
        && !path.exists()
    {
        return Ok(None);
    }
    let store = SqlStore::open(&settings.database).await?;
    let Some(admin) = store.accounts().await?.into_iter().find(|a| a.superuser) else {
        return Ok(None);
    };
    let lifetime = Some(std::time::Duration::from_secs(300));
    let (raw, token) =
        pista_ingest::make_token(&admin.name, TokenKind::Api, "pista cli", lifetime, now())?;
    let id = store.add_token(&token).await?;
    Ok(Some((store, raw, id)))
}

/// POSTs `body` to the running server's API and returns its JSON answer. With authentication
/// on, the call is made as the first superuser with a token that lives for the call only
/// (whoever can open the database is an administrator anyway).
async fn call_api(settings: &Settings, path: &str, body: Value) -> anyhow::Result<Value> {
    let mut addr = settings.http;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("http://{addr}{path}");
    let client = reqwest::Client::new();
    let mut request = client.post(&url).json(&body);
    let minted = match settings.auth {
        true => mint(settings).await?,
        false => None,
    };
    if let Some((_, raw, _)) = &minted {
        request = request.bearer_auth(raw);
    }
    let sent = request.send().await;
    if let Some((store, _, id)) = minted {
        use pista_store::AccountStore;
        if let Err(error) = store.remove_token(id).await {
            tracing::warn!(%error, "the call's token was not removed; it expires in 5 minutes");
        }
    }
    let response = sent
        .with_context(|| format!("cannot reach {url}; is pista serve running with this config?"))?;
    let status = response.status();
    let answer: Value =
        response.json().await.with_context(|| format!("{url} answered {status}"))?;
    if !status.is_success() {
        let message = answer.get("error").and_then(Value::as_str).unwrap_or("no reason given");
        bail!("{url} answered {status}: {message}");
    }
    Ok(answer)
}
