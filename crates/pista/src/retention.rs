//! `pista delete` (a user's or device's history in a time range, or everything of it) and
//! `pista retention` (set, remove and list the per-user and per-device age limits; read the
//! deletion log). Both work on the database directly, so they need no running server; a server
//! that runs on the same database reads its device objects again before its next batch (the
//! deletion moves the `deletions` revision).

use anyhow::{anyhow, bail};
use clap::ArgMatches;
use pista_core::time::{iso, parse_bound};
use pista_core::{DeviceName, UserName};
use pista_ingest::Retention;
use pista_store::{
    Compacted, DeletedBy, RetentionStore, Selector, Span, StoredDeletion, effective_days,
};

use crate::admin::open;
use crate::serve::retention_options;

/// Most retention days a rule may keep (100 years).
const MAX_DAYS: u64 = 36_500;

/// Runs `pista delete`; returns what to print.
pub async fn delete(args: &ArgMatches) -> anyhow::Result<String> {
    let selector = selector(args)?;
    let (settings, store) = open(args).await?;
    let retention = Retention {
        store: std::sync::Arc::new(store),
        outputs: None,
        options: retention_options(&settings),
    };
    let deleted = retention.delete(&selector, DeletedBy::Cli).await?;
    let counts: Vec<String> = deleted.counts.iter().map(|(t, n)| format!("{t} {n}")).collect();
    let counts = if counts.is_empty() { "nothing".to_owned() } else { counts.join(", ") };
    let log = deleted.log_id.map(|id| format!(" (deletion log entry {id})")).unwrap_or_default();
    Ok(format!("deleted {} rows of {selector}: {counts}{log}\n", deleted.total()))
}

/// Moves every settled location into device order, chunk by chunk (see
/// [`pista_store::Compacted`]).
pub async fn compact(args: &ArgMatches) -> anyhow::Result<String> {
    let (_, store) = open(args).await?;
    let (mut rows, mut steps) = (0, 0);
    loop {
        match pista_store::Storage::compact(&store, pista_ingest::now()).await? {
            Compacted::Moved { rows: moved } => {
                rows += moved;
                steps += 1;
                // A server writing to the same file goes between steps, as with its own.
                tokio::time::sleep(crate::serve::COMPACT_PAUSE).await;
            }
            Compacted::Nothing if steps == 0 => {
                let (chunk, settle, age) = (
                    pista_store::COMPACT_CHUNK,
                    pista_store::COMPACT_SETTLE_SECONDS / 60,
                    pista_store::COMPACT_AGE_SECONDS / 3600,
                );
                return Ok(format!(
                    "nothing to move yet: locations are moved once {chunk} of them were \
                     received {settle} minutes ago or more, or once they were received {age} \
                     hours ago\n"
                ));
            }
            Compacted::Nothing => {
                let steps = if steps == 1 { "1 step".to_owned() } else { format!("{steps} steps") };
                return Ok(format!("moved {rows} locations into device order in {steps}\n"));
            }
            Compacted::Unsupported => {
                return Ok(
                    "nothing to do: only a SQLite file's locations are compacted\n".to_owned()
                );
            }
            Compacted::Refused { reason } => {
                bail!("locations not compacted ({rows} moved before): {reason}")
            }
        }
    }
}

fn selector(args: &ArgMatches) -> anyhow::Result<Selector> {
    let (user, device) = owner(args)?;
    let bound = |name: &str| -> anyhow::Result<Option<i64>> {
        args.get_one::<String>(name)
            .map(|text| parse_bound(text).map_err(|e| anyhow!("--{name}: {e}")))
            .transpose()
    };
    let (from, to) = (bound("from")?, bound("to")?);
    let span = match (args.get_flag("all"), from, to) {
        (true, None, None) => Span::All,
        (true, _, _) => bail!("give --from/--to or --all, not both"),
        (false, None, None) => bail!(
            "give --from and/or --to (fix times) to delete a range, or --all to delete \
             everything of the user or device"
        ),
        (false, Some(from), Some(to)) if from > to => {
            bail!("impossible range: --from {} is after --to {}", iso(from), iso(to))
        }
        (false, from, to) => Span::Range { from, to },
    };
    Ok(Selector { user, device, span })
}

/// `--user` and the optional `--device`.
fn owner(args: &ArgMatches) -> anyhow::Result<(UserName, Option<DeviceName>)> {
    let user = args.get_one::<String>("user").map(String::as_str).unwrap_or_default();
    let user = UserName::parse(user).map_err(|e| anyhow!("--user: {e}"))?;
    let device = args
        .get_one::<String>("device")
        .map(|d| DeviceName::parse(d))
        .transpose()
        .map_err(|e| anyhow!("--device: {e}"))?;
    Ok((user, device))
}

/// Runs `pista retention set|del|list|log`.
pub async fn retention(args: &ArgMatches) -> anyhow::Result<String> {
    let (verb, args) = args.subcommand().ok_or_else(|| anyhow!("missing subcommand"))?;
    let (settings, store) = open(args).await?;
    match verb {
        "set" => {
            let (user, device) = owner(args)?;
            let text = args.get_one::<String>("days").map(String::as_str).unwrap_or_default();
            let days = match text.trim().parse::<u64>() {
                Ok(days) if days <= MAX_DAYS => days,
                _ => bail!("--days {text:?} is not a whole number from 0 (keep all) to {MAX_DAYS}"),
            };
            let now = pista_ingest::now();
            let replaced = store.set_retention_rule(&user, device.as_ref(), days, now).await?;
            let verb = if replaced { "replaced" } else { "set" };
            Ok(format!(
                "retention rule {verb}: {} keeps {}\n",
                shown(&user, device.as_ref()),
                kept(days)
            ))
        }
        "del" => {
            let (user, device) = owner(args)?;
            let owner = shown(&user, device.as_ref());
            match store.remove_retention_rule(&user, device.as_ref()).await? {
                true => Ok(format!("retention rule removed for {owner}\n")),
                false => bail!("{owner} has no retention rule"),
            }
        }
        "log" => {
            let text = args.get_one::<String>("limit").map(String::as_str).unwrap_or("20");
            let limit = match text.parse::<u64>() {
                Ok(limit) if limit >= 1 => limit,
                _ => bail!("--limit {text:?} is not a whole number from 1"),
            };
            Ok(store.deletions(limit).await?.iter().map(log_line).collect())
        }
        _ => list(&store, settings.retention_days).await,
    }
}

async fn list(store: &dyn RetentionStore, default: u64) -> anyhow::Result<String> {
    let rules = store.retention_rules().await?;
    let mut out = format!("default (retention.days): {}\n", kept(default));
    for rule in &rules {
        out.push_str(&format!(
            "rule {}: {}\n",
            shown(&rule.user, rule.device.as_ref()),
            kept(rule.days)
        ));
    }
    for key in store.known_devices().await? {
        out.push_str(&format!("device {key}: {}\n", kept(effective_days(&rules, &key, default))));
    }
    Ok(out)
}

fn shown(user: &UserName, device: Option<&DeviceName>) -> String {
    device.map_or_else(|| format!("{user} (every device)"), |device| format!("{user}/{device}"))
}

fn kept(days: u64) -> String {
    match days {
        0 => "everything".to_owned(),
        1 => "1 day".to_owned(),
        days => format!("{days} days"),
    }
}

/// One deletion log entry as a line.
fn log_line(entry: &StoredDeletion) -> String {
    let owner = match &entry.device {
        Some(device) => format!("{}/{device}", entry.user),
        None => format!("{} (every device)", entry.user),
    };
    let bound = |t: Option<i64>| t.map_or_else(|| "*".to_owned(), iso);
    let what = if entry.everything {
        "everything".to_owned()
    } else {
        format!("{} to {}", bound(entry.from), bound(entry.to))
    };
    let counts: Vec<String> = entry.counts.iter().map(|(t, n)| format!("{t} {n}")).collect();
    let error = entry.error.as_ref().map(|e| format!(" STOPPED: {e}")).unwrap_or_default();
    format!(
        "{} {} by {} {owner}, {what}: {} rows ({}){error}\n",
        entry.id,
        iso(entry.at),
        entry.by.as_str(),
        entry.total,
        counts.join(", ")
    )
}
