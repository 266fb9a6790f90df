//! Queries behind the read API: users, devices, last positions, location ranges and raw
//! messages. Every location query uses the `(device_id, tst, ...)` index, so its cost follows the
//! size of the answer, not of the history.

use async_trait::async_trait;
use pista_core::tour::TourId;
use pista_core::{Card, DeviceKey, DeviceName, Source, UserName};
use sea_orm::sea_query::{Expr, ExprTrait, Func, JoinType, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, QueryResult};
use serde_json::{Map, Value};

use crate::apply::{CardRow, upsert_card};
use crate::error::StoreError;
use crate::history::{History, HistoryQuery};
use crate::records::{
    DeviceState, InventoryItem, LastLocation, LocationQuery, MessageQuery, NewMessage, Quarantined,
    StoredCard, StoredCommand, StoredLocation, StoredMessage, StoredTour, StoredTransition,
    StoredWaypoint, WriteOutcome,
};
use crate::sql::SqlStore;
use crate::{Compacted, Storage};

const LOCATION_COLUMNS: [&str; 10] =
    ["id", "tst", "lat", "lon", "received_at", "topic", "payload", "repairs", "addr", "cc"];

#[async_trait]
impl Storage for SqlStore {
    async fn write(&self, batch: &[NewMessage]) -> Result<Vec<WriteOutcome>, StoreError> {
        let _write = self.writes.lock().await;
        self.write_batch(batch).await
    }

    async fn users(&self) -> Result<Vec<UserName>, StoreError> {
        let select = Query::select()
            .distinct()
            .column("user_name")
            .from("devices")
            .order_by("user_name", Order::Asc)
            .to_owned();
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("list users"))?;
        rows.iter().map(|row| name(row, 0).and_then(|n| parse(UserName::parse(&n)))).collect()
    }

    async fn devices(&self, user: &UserName) -> Result<Vec<DeviceName>, StoreError> {
        let select = Query::select()
            .column("device_name")
            .from("devices")
            .and_where(Expr::col("user_name").eq(user.as_str()))
            .order_by("device_name", Order::Asc)
            .to_owned();
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("list devices"))?;
        rows.iter().map(|row| name(row, 0).and_then(|n| parse(DeviceName::parse(&n)))).collect()
    }

    async fn last(
        &self,
        user: Option<&UserName>,
        device: Option<&DeviceName>,
    ) -> Result<Vec<LastLocation>, StoreError> {
        let mut select = location_select();
        select.columns([("d", "user_name"), ("d", "device_name")]).join_as(
            JoinType::InnerJoin,
            "devices",
            "d",
            Expr::col(("d", "last_location_id")).equals(("l", "id")),
        );

        if let Some(user) = user {
            select.and_where(Expr::col(("d", "user_name")).eq(user.as_str()));
        }
        if let Some(device) = device {
            select.and_where(Expr::col(("d", "device_name")).eq(device.as_str()));
        }
        select.order_by(("d", "user_name"), Order::Asc).order_by(("d", "device_name"), Order::Asc);
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read last"))?;
        rows.iter()
            .map(|row| {
                let key = DeviceKey::parse(&name(row, 10)?, &name(row, 11)?);
                Ok(LastLocation { key: parse(key)?, location: location(row)? })
            })
            .collect()
    }

    async fn locations(&self, query: &LocationQuery) -> Result<Vec<StoredLocation>, StoreError> {
        let Some(device_id) = self.find_device(&query.key).await? else {
            return Ok(Vec::new());
        };
        let mut select = location_select();
        select.and_where(Expr::col(("l", "device_id")).eq(device_id));
        if let Some(from) = query.from {
            select.and_where(Expr::col(("l", "tst")).gte(from));
        }
        if let Some(to) = query.to {
            select.and_where(Expr::col(("l", "tst")).lte(to));
        }

        let newest_first = query.limit.is_some();
        let order = if newest_first { Order::Desc } else { Order::Asc };
        select.order_by(("l", "tst"), order.clone()).order_by(("l", "id"), order);
        if let Some(limit) = query.limit {
            select.limit(limit);
        }
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read locations"))?;
        let mut points = rows.iter().map(location).collect::<Result<Vec<_>, _>>()?;
        if newest_first {
            points.reverse();
        }
        Ok(points)
    }

    async fn history(&self, query: &HistoryQuery) -> Result<History, StoreError> {
        self.open_history(query).await
    }

    async fn messages(&self, key: Option<&DeviceKey>) -> Result<Vec<StoredMessage>, StoreError> {
        let mut select = message_select();
        select.order_by(("m", "id"), Order::Asc);
        if let Some(key) = key {
            select
                .and_where(Expr::col(("d", "user_name")).eq(key.user.as_str()))
                .and_where(Expr::col(("d", "device_name")).eq(key.device.as_str()));
        }
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read messages"))?;
        rows.iter().map(message).collect()
    }

    async fn device_messages(
        &self,
        query: &MessageQuery,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let Some(device_id) = self.find_device(&query.key).await? else {
            return Ok(Vec::new());
        };
        let time = || {
            Expr::expr(Func::coalesce([Expr::col(("m", "tst")), Expr::col(("m", "received_at"))]))
        };
        let mut select = message_select();
        select.and_where(Expr::col(("m", "device_id")).eq(device_id));
        if let Some(msg_type) = &query.msg_type {
            select.and_where(Expr::col(("m", "msg_type")).eq(msg_type.as_str()));
        }
        if let Some(from) = query.from {
            select.and_where(time().gte(from));
        }
        if let Some(to) = query.to {
            select.and_where(time().lte(to));
        }
        select.order_by_expr(time(), Order::Asc).order_by(("m", "id"), Order::Asc);
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read messages"))?;
        rows.iter().map(message).collect()
    }

    async fn quarantined(&self, key: Option<&DeviceKey>) -> Result<Vec<Quarantined>, StoreError> {
        self.read_quarantine(key).await
    }

    async fn release(&self, ids: &[i64], at: i64) -> Result<(), StoreError> {
        let _write = self.writes.lock().await;
        self.release_quarantine(ids, at).await
    }

    async fn transitions(&self, key: &DeviceKey) -> Result<Vec<StoredTransition>, StoreError> {
        self.read_transitions(key).await
    }

    async fn waypoints(&self, key: &DeviceKey) -> Result<Vec<StoredWaypoint>, StoreError> {
        self.read_waypoints(key).await
    }

    async fn cards(&self, user: Option<&UserName>) -> Result<Vec<StoredCard>, StoreError> {
        self.read_cards(user).await
    }

    async fn set_card(
        &self,
        user: &UserName,
        device: Option<&DeviceName>,
        card: &Card,
        at: i64,
    ) -> Result<(), StoreError> {
        let _write = self.writes.lock().await;
        let row = CardRow {
            user: user.as_str(),
            device: device.map_or("", DeviceName::as_str),
            name: card.name.clone(),
            face: card.face.clone(),
            tid: card.tid.clone(),
        };
        upsert_card(&self.db, row, at).await
    }

    async fn remove_card(
        &self,
        user: &UserName,
        device: Option<&DeviceName>,
    ) -> Result<bool, StoreError> {
        let _write = self.writes.lock().await;
        self.delete_card(user, device).await
    }

    async fn device_state(&self, key: &DeviceKey) -> Result<Option<DeviceState>, StoreError> {
        self.read_device_state(key).await
    }

    async fn inventory(&self) -> Result<Vec<InventoryItem>, StoreError> {
        self.read_inventory().await
    }

    async fn set_odometer(&self, key: &DeviceKey, odo: Option<f64>) -> Result<bool, StoreError> {
        let _write = self.writes.lock().await;
        self.write_odometer(key, odo).await
    }

    async fn secret(&self, key: &DeviceKey) -> Result<Option<String>, StoreError> {
        self.read_secret(key).await
    }

    async fn set_secret(
        &self,
        key: &DeviceKey,
        secret: Option<&str>,
        at: i64,
    ) -> Result<bool, StoreError> {
        let _write = self.writes.lock().await;
        self.write_secret(key, secret, at).await
    }

    async fn secrets(&self) -> Result<Vec<DeviceKey>, StoreError> {
        self.read_secret_keys().await
    }

    async fn add_friend(
        &self,
        user: &UserName,
        friend: &UserName,
        device: Option<&DeviceName>,
    ) -> Result<bool, StoreError> {
        let _write = self.writes.lock().await;
        let added = self.write_friend(user, friend, device, true).await?;
        self.friends_changed(added).await?;
        Ok(added)
    }

    async fn remove_friend(
        &self,
        user: &UserName,
        friend: &UserName,
        device: Option<&DeviceName>,
    ) -> Result<bool, StoreError> {
        let _write = self.writes.lock().await;
        let removed = self.write_friend(user, friend, device, false).await?;
        self.friends_changed(removed).await?;
        Ok(removed)
    }

    async fn friends(
        &self,
        user: &UserName,
    ) -> Result<Vec<(UserName, Option<DeviceName>)>, StoreError> {
        self.read_friends(user).await
    }

    async fn answer_friends(
        &self,
        user: &UserName,
    ) -> Result<Vec<(UserName, Option<DeviceName>)>, StoreError> {
        let kept = self.answers().friends();
        let lists = match kept {
            Some(lists) => lists,
            None => {
                let at = self.answers().seen;
                let lists = self.read_all_friends().await?;
                self.answers().keep_friends(at, lists)
            }
        };
        Ok(lists.get(user).cloned().unwrap_or_default())
    }

    async fn queue_command(
        &self,
        key: &DeviceKey,
        action: &str,
        payload: &str,
        at: i64,
    ) -> Result<i64, StoreError> {
        let _write = self.writes.lock().await;
        let id = self.insert_command(key, action, payload, at).await?;
        crate::revision::bump(&self.db, crate::revision::COMMANDS).await?;
        self.answers().queued(key);
        Ok(id)
    }

    async fn command_published(
        &self,
        id: i64,
        result: Result<(), String>,
        at: i64,
    ) -> Result<(), StoreError> {
        let _write = self.writes.lock().await;
        self.mark_command_published(id, result, at).await
    }

    async fn commands(&self, key: Option<&DeviceKey>) -> Result<Vec<StoredCommand>, StoreError> {
        self.read_commands(key, false).await
    }

    async fn take_http_commands(
        &self,
        key: &DeviceKey,
        at: i64,
    ) -> Result<Vec<StoredCommand>, StoreError> {
        // Nearly every post finds nothing queued: that is answered from memory, without a
        // query or waiting for the write turn, which ingest's commits hold.
        let known = self.answers().may_have_commands(key);
        let waiting = match known {
            Some(waiting) => waiting,
            None => {
                let seen = self.answers().seen;
                let pending = self.pending_http_devices().await?;
                let waiting = pending.contains(key);
                self.answers().keep_pending(seen, pending);
                waiting
            }
        };
        if !waiting {
            return Ok(Vec::new());
        }
        let _write = self.writes.lock().await;
        let taken = self.take_commands(key, at).await?;
        if !taken.is_empty() {
            crate::revision::bump(&self.db, crate::revision::COMMANDS).await?;
        }
        self.answers().taken(key);
        Ok(taken)
    }

    async fn tour(&self, uuid: &TourId) -> Result<Option<StoredTour>, StoreError> {
        crate::tours::find(&self.db, uuid).await
    }

    async fn tours(&self, key: &DeviceKey) -> Result<Vec<StoredTour>, StoreError> {
        crate::tours::owned(&self.db, key).await
    }

    async fn rawdata(&self) -> Result<Vec<(String, i64, Vec<u8>)>, StoreError> {
        self.read_rawdata().await
    }

    async fn prune_rawdata(&self, before: i64) -> Result<u64, StoreError> {
        let _write = self.writes.lock().await;
        self.delete_rawdata(before).await
    }

    async fn compact(&self, now: i64) -> Result<Compacted, StoreError> {
        let Some(lean) = &self.lean_writes else { return Ok(Compacted::Unsupported) };
        let _write = self.writes.lock().await;
        let oldest_read = self
            .snapshots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .first_key_value()
            .map(|(id, _)| *id);
        crate::write::run_blocking(|| lean.compact(now, oldest_read.unwrap_or(i64::MAX)))
    }
}

impl SqlStore {
    /// After this process changed a friend list: every worker reads the lists again.
    async fn friends_changed(&self, changed: bool) -> Result<(), StoreError> {
        if changed {
            crate::revision::bump(&self.db, crate::revision::FRIENDS).await?;
            self.answers().forget_friends();
        }
        Ok(())
    }

    pub(crate) async fn find_device(&self, key: &DeviceKey) -> Result<Option<i64>, StoreError> {
        find_device_on(&self.db, key).await
    }
}

/// The id of `key`'s row, read on `conn` (a transaction sees its own view).
pub(crate) async fn find_device_on(
    conn: &impl ConnectionTrait,
    key: &DeviceKey,
) -> Result<Option<i64>, StoreError> {
    let select = Query::select()
        .column("id")
        .from("devices")
        .and_where(Expr::col("user_name").eq(key.user.as_str()))
        .and_where(Expr::col("device_name").eq(key.device.as_str()))
        .to_owned();
    let row = conn.query_one(&select).await.map_err(StoreError::query("find device"))?;
    row.map(|row| get::<i64>(&row, 0)).transpose()
}

fn location_select() -> SelectStatement {
    let columns = LOCATION_COLUMNS.map(|column| ("l", column));
    Query::select().columns(columns).from_as("locations", "l").to_owned()
}

pub(crate) fn get<T: sea_orm::TryGetable>(
    row: &QueryResult,
    index: usize,
) -> Result<T, StoreError> {
    row.try_get_by_index::<T>(index).map_err(StoreError::query("read column"))
}

pub(crate) fn name(row: &QueryResult, index: usize) -> Result<String, StoreError> {
    get::<String>(row, index)
}

pub(crate) fn parse<T>(result: Result<T, pista_core::NameError>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Corrupt { what: "name", detail: e.to_string() })
}

fn location(row: &QueryResult) -> Result<StoredLocation, StoreError> {
    let payload: String = get(row, 6)?;
    let json = match serde_json::from_str::<Value>(&payload) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    Ok(StoredLocation {
        id: get(row, 0)?,
        tst: get(row, 1)?,
        lat: get(row, 2)?,
        lon: get(row, 3)?,
        received_at: get(row, 4)?,
        topic: get(row, 5)?,
        json,
        repairs: notes(get(row, 7)?),
        addr: get(row, 8)?,
        cc: get(row, 9)?,
    })
}

/// The columns [`message`] reads, of `messages` as `m` with its device as `d`.
fn message_select() -> SelectStatement {
    Query::select()
        .columns([
            ("m", "id"),
            ("m", "topic"),
            ("m", "subtopic"),
            ("m", "msg_type"),
            ("m", "tst"),
            ("m", "source"),
            ("m", "retained"),
            ("m", "received_at"),
            ("m", "payload"),
            ("m", "original"),
            ("m", "repairs"),
        ])
        .columns([("d", "user_name"), ("d", "device_name")])
        .from_as("messages", "m")
        .join_as(
            JoinType::LeftJoin,
            "devices",
            "d",
            Expr::col(("d", "id")).equals(("m", "device_id")),
        )
        .to_owned()
}

fn message(row: &QueryResult) -> Result<StoredMessage, StoreError> {
    let retained: i16 = get(row, 6)?;
    Ok(StoredMessage {
        id: get(row, 0)?,
        key: optional_key(row, 11)?,
        topic: get(row, 1)?,
        subtopic: get(row, 2)?,
        msg_type: get(row, 3)?,
        tst: get(row, 4)?,
        source: source(row, 5)?,
        retained: retained != 0,
        received_at: get(row, 7)?,
        payload: get(row, 8)?,
        original: get(row, 9)?,
        repairs: notes(get(row, 10)?),
    })
}

/// The device key in columns `index` (user) and `index + 1` (device) of a left join.
pub(crate) fn optional_key(
    row: &QueryResult,
    index: usize,
) -> Result<Option<DeviceKey>, StoreError> {
    let user: Option<String> = get(row, index)?;
    let device: Option<String> = get(row, index + 1)?;
    match (user, device) {
        (Some(user), Some(device)) => Ok(Some(parse(DeviceKey::parse(&user, &device))?)),
        _ => Ok(None),
    }
}

pub(crate) fn source(row: &QueryResult, index: usize) -> Result<Source, StoreError> {
    let name: String = get(row, index)?;
    Source::from_name(&name)
        .ok_or_else(|| StoreError::Corrupt { what: "message source", detail: name.clone() })
}

/// Notes stored as a JSON array of text.
fn notes(text: Option<String>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
}
