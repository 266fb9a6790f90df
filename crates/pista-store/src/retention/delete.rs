//! Deleting a user's or device's rows. History tables go in chunks: each chunk selects at most
//! `chunk` row ids, deletes them and commits, under the write turn ingest also takes, so ingest
//! waits for one chunk at most. Tables and what their rows are matched by:
//!
//! - `locations` by `tst`; a chunk that takes the fix a device shows as its last moves
//!   `devices.last_location_id`/`last_tst` to the newest fix left (or none) in the same
//!   transaction, so `/api/0/last` never points at a deleted row;
//! - `messages` by their `tst`, or their arrival time when they carry none (cards, last wills);
//! - `transitions` and `alerts` by `tst` (an alert's webhook deliveries and queue entries go
//!   with it); `quarantine` by arrival (a quarantined message has no trusted time);
//! - `jobs` by start time, ended ones only unless everything goes; `commands` by creation time.
//!
//! Only when everything goes: `waypoints`, the device's app `fences` and their `fence_states`,
//! its `fence_states`, `job_names`, `inventory`, `cards`, `secrets`, `tours` (their links stop
//! working, and a device registered again under the name does not show through them), `friends`
//! entries naming it,
//! its `retention_rules` and the `devices` row itself; for a whole user also the user's card,
//! friend lists both ways and API fences. Kept always: `geo_cells` (shared by everyone),
//! `rawdata` (pruned by its own age), and alerts other devices raised on a deleted fence.
//!
//! Deleting a device moves the `deletions` revision in the same transaction: every writer reads
//! it at the start of each batch and forgets its cached device ids when it moved, so another
//! worker or process does not store the device's next messages under the deleted id. Any
//! deletion that removed rows moves it once more at its end, which tells every outputs stage
//! (of this process, another worker, or a server beside `pista delete`) to read its device
//! objects again.
//!
//! Writers in other processes read the revision under a shared lock and the device's last
//! transaction moves it first, so the two are ordered: a batch in flight commits before the
//! deletion goes on, and the deletion's last transaction takes what that batch (or anything
//! since the history went chunk by chunk) stored for the device; a batch that starts meanwhile
//! waits for the deletion to commit and registers the device anew.

use std::collections::BTreeMap;

use pista_core::DeviceKey;
use sea_orm::sea_query::{Cond, Expr, ExprTrait, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use super::{Deleted, DeletedBy, Selector, Span};
use crate::error::StoreError;
use crate::read::{get, name, parse};
use crate::sql::SqlStore;

/// A registered device a deletion touches.
struct Target {
    id: i64,
    key: DeviceKey,
}

/// Rows deleted so far, per table.
type Counts = BTreeMap<String, u64>;

/// What else a chunk of a history table does in its transaction.
#[derive(Clone, Copy)]
enum Extra {
    None,
    /// Moves the device's last fix when it was deleted.
    LastFix(i64),
    /// Deletes the alerts' webhook deliveries and queue entries first.
    AlertChildren,
}

impl SqlStore {
    pub(super) async fn delete_selected(
        &self,
        selector: &Selector,
        by: DeletedBy,
        at: i64,
        chunk: u64,
    ) -> Result<Deleted, StoreError> {
        let chunk = Ord::max(chunk, 1);
        let targets = self.targets(selector).await?;
        let mut counts = Counts::new();
        let mut deleted = Deleted::default();
        let result =
            self.delete_targets(selector, &targets, chunk, &mut counts, &mut deleted).await;

        deleted.counts = counts.into_iter().filter(|(_, n)| *n > 0).collect();
        let error = result.as_ref().err().map(ToString::to_string);
        if by != DeletedBy::Retention || deleted.total() > 0 || error.is_some() {
            deleted.log_id = Some(self.log_deletion(selector, by, at, &deleted, error).await?);
        }
        if deleted.total() > 0 {
            // Every worker, and a server beside `pista delete`, reads its devices again.
            let _write = self.writes.lock().await;
            crate::revision::bump(&self.db, crate::revision::DELETIONS).await?;
        }
        result.map(|()| deleted)
    }

    async fn delete_targets(
        &self,
        selector: &Selector,
        targets: &[Target],
        chunk: u64,
        counts: &mut Counts,
        deleted: &mut Deleted,
    ) -> Result<(), StoreError> {
        for target in targets {
            let before: u64 = counts.values().sum();
            self.delete_history(target, selector.span, chunk, counts).await?;
            if selector.span == Span::All {
                self.delete_registry(target, counts).await?;
                deleted.removed.push(target.key.clone());
            }
            if counts.values().sum::<u64>() > before {
                deleted.devices.push(target.key.clone());
            }
        }
        if selector.span == Span::All {
            self.delete_names(selector, counts).await?;
        } else {
            // Commands name devices, which may never have sent anything.
            let (from, to) = bounds(selector.span);
            let cond = by_names(selector, "user_name", "device_name")
                .add_option(from.map(|from| Expr::col("created_at").gte(from)))
                .add_option(to.map(|to| Expr::col("created_at").lte(to)));
            self.chunked("commands", cond, chunk, Extra::None, counts).await?;
        }
        Ok(())
    }

    /// The registered devices `selector` names, sorted.
    async fn targets(&self, selector: &Selector) -> Result<Vec<Target>, StoreError> {
        let select = Query::select()
            .columns(["id", "user_name", "device_name"])
            .from("devices")
            .cond_where(by_names(selector, "user_name", "device_name"))
            .order_by("user_name", Order::Asc)
            .order_by("device_name", Order::Asc)
            .to_owned();
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("find devices"))?;
        rows.iter()
            .map(|row| {
                let key = parse(DeviceKey::parse(&name(row, 1)?, &name(row, 2)?))?;
                Ok(Target { id: get(row, 0)?, key })
            })
            .collect()
    }

    /// The history tables of one device.
    async fn delete_history(
        &self,
        target: &Target,
        span: Span,
        chunk: u64,
        counts: &mut Counts,
    ) -> Result<(), StoreError> {
        let id = target.id;
        let fix_time = Expr::col("tst");
        let message_time = Expr::cust("COALESCE(tst, received_at)");
        let timed = [
            ("locations", fix_time.clone(), Extra::LastFix(id)),
            ("messages", message_time, Extra::None),
            ("quarantine", Expr::col("received_at"), Extra::None),
            ("transitions", fix_time.clone(), Extra::None),
            ("alerts", fix_time, Extra::AlertChildren),
            ("jobs", Expr::col("started_at"), Extra::None),
        ];
        let (from, to) = bounds(span);
        for (table, time, extra) in timed {
            let mut cond = Cond::all()
                .add(Expr::col("device_id").eq(id))
                .add_option(from.map(|from| time.clone().gte(from)))
                .add_option(to.map(|to| time.clone().lte(to)));
            if table == "jobs" && span != Span::All {
                // A running job is not history yet.
                cond = cond.add(Expr::col("ended_at").is_not_null());
            }
            self.chunked(table, cond, chunk, extra, counts).await?;
        }
        Ok(())
    }

    /// Deletes the rows of `table` matching `cond`, `chunk` at a time, one transaction each.
    async fn chunked(
        &self,
        table: &'static str,
        cond: Cond,
        chunk: u64,
        extra: Extra,
        counts: &mut Counts,
    ) -> Result<(), StoreError> {
        loop {
            let select = Query::select()
                .column("id")
                .from(table)
                .cond_where(cond.clone())
                .order_by("id", Order::Asc)
                .limit(chunk)
                .to_owned();
            let done = self.delete_chunk(table, select, extra, counts).await?;
            if done < chunk {
                return Ok(());
            }
            // Lets the ingest writer, which waits for the write turn, go between chunks.
            tokio::task::yield_now().await;
        }
    }

    async fn delete_chunk(
        &self,
        table: &'static str,
        select: SelectStatement,
        extra: Extra,
        counts: &mut Counts,
    ) -> Result<u64, StoreError> {
        let _write = self.writes.lock().await;
        let txn = self.begin_write().await?;
        let rows =
            txn.query_all(&select).await.map_err(StoreError::query("select rows to delete"))?;
        let ids = rows.iter().map(|row| get::<i64>(row, 0)).collect::<Result<Vec<_>, _>>()?;
        if ids.is_empty() {
            return Ok(0);
        }
        if let Extra::AlertChildren = extra {
            for child in ["webhook_deliveries", "webhook_queue"] {
                let cond = Cond::all().add(Expr::col("alert_id").is_in(ids.iter().copied()));
                remove(&txn, child, cond, counts).await?;
            }
        }
        let cond = Cond::all().add(Expr::col("id").is_in(ids.iter().copied()));
        remove(&txn, table, cond, counts).await?;
        if let Extra::LastFix(device_id) = extra {
            move_last_fix(&txn, device_id, &ids).await?;
        }
        txn.commit().await.map_err(StoreError::query("commit"))?;
        Ok(ids.len() as u64)
    }

    /// The device's registry rows and the device itself, in one transaction; its cached id goes
    /// with it, so its next message registers it anew.
    async fn delete_registry(
        &self,
        target: &Target,
        counts: &mut Counts,
    ) -> Result<(), StoreError> {
        let _write = self.writes.lock().await;
        let txn = self.begin_write().await?;
        // First, so that a batch another process is writing commits before this goes on (it
        // holds the revision shared), and a batch that starts now waits for this commit and
        // then forgets the id.
        crate::revision::bump(&txn, crate::revision::DELETIONS).await?;
        let id = target.id;
        // What arrived since the history was deleted chunk by chunk goes with the device, so no
        // row is left under an id that no longer exists.
        let alerts = Query::select()
            .column("id")
            .from("alerts")
            .and_where(Expr::col("device_id").eq(id))
            .to_owned();
        for child in ["webhook_deliveries", "webhook_queue"] {
            let cond = Cond::all().add(Expr::col("alert_id").in_subquery(alerts.clone()));
            remove(&txn, child, cond, counts).await?;
        }
        for table in ["locations", "messages", "quarantine", "transitions", "alerts", "jobs"] {
            remove(&txn, table, Cond::all().add(Expr::col("device_id").eq(id)), counts).await?;
        }
        let fences = Query::select()
            .column("id")
            .from("fences")
            .and_where(Expr::col("device_id").eq(id))
            .to_owned();
        let fence_states = Cond::any()
            .add(Expr::col("device_id").eq(id))
            .add(Expr::col("fence_id").in_subquery(fences));
        remove(&txn, "fence_states", fence_states, counts).await?;
        for table in ["fences", "waypoints", "job_names", "inventory"] {
            remove(&txn, table, Cond::all().add(Expr::col("device_id").eq(id)), counts).await?;
        }
        if counts.get("fences").is_some_and(|n| *n > 0) {
            crate::derived::bump_fences(&txn).await?;
        }
        let key = &target.key;
        let named = Cond::all()
            .add(Expr::col("user_name").eq(key.user.as_str()))
            .add(Expr::col("device_name").eq(key.device.as_str()));
        for table in ["cards", "secrets", "retention_rules", "commands", "tours"] {
            remove(&txn, table, named.clone(), counts).await?;
        }
        let friends = Cond::all()
            .add(Expr::col("friend_user").eq(key.user.as_str()))
            .add(Expr::col("friend_device").eq(key.device.as_str()));
        remove(&txn, "friends", friends, counts).await?;
        remove(&txn, "devices", Cond::all().add(Expr::col("id").eq(id)), counts).await?;
        txn.commit().await.map_err(StoreError::query("commit"))?;

        let names = (key.user.as_str().to_owned(), key.device.as_str().to_owned());
        self.device_ids.lock().await.remove(&names);
        self.last_seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&id);
        Ok(())
    }

    /// Rows that name the user or device but belong to no registered device: cards, secrets,
    /// friends and commands of a device that never sent anything, and for a whole user the
    /// user's card, friend lists and API fences.
    async fn delete_names(
        &self,
        selector: &Selector,
        counts: &mut Counts,
    ) -> Result<(), StoreError> {
        let _write = self.writes.lock().await;
        let txn = self.begin_write().await?;
        let named = by_names(selector, "user_name", "device_name");
        for table in ["cards", "secrets", "retention_rules", "commands", "tours"] {
            remove(&txn, table, named.clone(), counts).await?;
        }
        let user = selector.user.as_str();
        let friends = match &selector.device {
            Some(device) => Cond::all()
                .add(Expr::col("friend_user").eq(user))
                .add(Expr::col("friend_device").eq(device.as_str())),
            None => Cond::any()
                .add(Expr::col("user_name").eq(user))
                .add(Expr::col("friend_user").eq(user)),
        };
        remove(&txn, "friends", friends, counts).await?;
        if selector.device.is_none() {
            // Configured fences come back from the config file at the next start; only the
            // API's are the user's own data.
            let fences =
                Cond::all().add(Expr::col("user_name").eq(user)).add(Expr::col("source").eq("api"));
            let ids =
                Query::select().column("id").from("fences").cond_where(fences.clone()).to_owned();
            let states = Cond::all().add(Expr::col("fence_id").in_subquery(ids));
            remove(&txn, "fence_states", states, counts).await?;
            remove(&txn, "fences", fences, counts).await?;
            if counts.get("fences").is_some_and(|n| *n > 0) {
                crate::derived::bump_fences(&txn).await?;
            }
        }
        txn.commit().await.map_err(StoreError::query("commit"))?;
        Ok(())
    }
}

/// The span's bounds; everything has none.
fn bounds(span: Span) -> (Option<i64>, Option<i64>) {
    match span {
        Span::All => (None, None),
        Span::Range { from, to } => (from, to),
    }
}

/// Rows of the selector's user, and of its device when it names one.
fn by_names(selector: &Selector, user: &'static str, device: &'static str) -> Cond {
    Cond::all()
        .add(Expr::col(user).eq(selector.user.as_str()))
        .add_option(selector.device.as_ref().map(|d| Expr::col(device).eq(d.as_str())))
}

async fn remove(
    txn: &DatabaseTransaction,
    table: &'static str,
    cond: Cond,
    counts: &mut Counts,
) -> Result<(), StoreError> {
    let delete = Query::delete().from_table(table).cond_where(cond).to_owned();
    let result = txn.execute(&delete).await.map_err(StoreError::query("delete rows"))?;
    *counts.entry(table.to_owned()).or_default() += result.rows_affected();
    Ok(())
}

/// When the device's last fix is among `deleted`, points it at the newest fix left, or none.
async fn move_last_fix(
    txn: &DatabaseTransaction,
    device_id: i64,
    deleted: &[i64],
) -> Result<(), StoreError> {
    let last = Query::select()
        .column("last_location_id")
        .from("devices")
        .and_where(Expr::col("id").eq(device_id))
        .to_owned();
    let row = txn.query_one(&last).await.map_err(StoreError::query("read last location"))?;
    let shown: Option<i64> = match row {
        Some(row) => get(&row, 0)?,
        None => None,
    };
    if !shown.is_some_and(|id| deleted.contains(&id)) {
        return Ok(());
    }
    // The same order ingest keeps: the newest `tst`, the first stored among equals.
    let newest = Query::select()
        .columns(["id", "tst"])
        .from("locations")
        .and_where(Expr::col("device_id").eq(device_id))
        .order_by("tst", Order::Desc)
        .order_by("id", Order::Asc)
        .limit(1)
        .to_owned();
    let row = txn.query_one(&newest).await.map_err(StoreError::query("read newest location"))?;
    let (id, tst) = match row {
        Some(row) => (Some(get::<i64>(&row, 0)?), Some(get::<i64>(&row, 1)?)),
        None => (None, None),
    };
    let update = Query::update()
        .table("devices")
        .value("last_location_id", id)
        .value("last_tst", tst)
        .and_where(Expr::col("id").eq(device_id))
        .to_owned();
    txn.execute(&update).await.map_err(StoreError::query("update last location"))?;
    Ok(())
}
