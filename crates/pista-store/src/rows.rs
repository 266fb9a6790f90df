//! Reads and small writes of the tables beside locations and messages: quarantine, region
//! events, regions, cards, device state, the Greenwich inventory, encryption secrets, friends,
//! commands and wire copies. Each is one short statement; none is on the ingest hot path except
//! the secret lookup of an encrypted message.

use std::collections::HashSet;

use pista_core::{DeviceKey, DeviceName, UserName};
use sea_orm::sea_query::{Expr, ExprTrait, JoinType, Order, Query};
use sea_orm::{ConnectionTrait, QueryResult};

use crate::answers::FriendLists;
use crate::error::StoreError;
use crate::read::{get, name, optional_key, parse, source};
use crate::records::{
    DeviceState, InventoryItem, Quarantined, StoredCard, StoredCommand, StoredTransition,
    StoredWaypoint,
};
use crate::sql::SqlStore;

impl SqlStore {
    pub(crate) async fn read_quarantine(
        &self,
        key: Option<&DeviceKey>,
    ) -> Result<Vec<Quarantined>, StoreError> {
        let mut select = Query::select()
            .columns(
                [
                    "id",
                    "topic",
                    "subtopic",
                    "msg_type",
                    "source",
                    "retained",
                    "received_at",
                    "reason",
                    "problem",
                    "payload",
                    "released_at",
                ]
                .map(|c| ("q", c)),
            )
            .columns([("d", "user_name"), ("d", "device_name")])
            .from_as("quarantine", "q")
            .join_as(
                JoinType::LeftJoin,
                "devices",
                "d",
                Expr::col(("d", "id")).equals(("q", "device_id")),
            )
            .order_by(("q", "id"), Order::Asc)
            .to_owned();
        if let Some(key) = key {
            select
                .and_where(Expr::col(("d", "user_name")).eq(key.user.as_str()))
                .and_where(Expr::col(("d", "device_name")).eq(key.device.as_str()));
        }
        let rows =
            self.db.query_all(&select).await.map_err(StoreError::query("read quarantine"))?;
        rows.iter()
            .map(|row| {
                let retained: i16 = get(row, 5)?;
                Ok(Quarantined {
                    id: get(row, 0)?,
                    key: optional_key(row, 11)?,
                    topic: get(row, 1)?,
                    subtopic: get(row, 2)?,
                    msg_type: get(row, 3)?,
                    source: source(row, 4)?,
                    retained: retained != 0,
                    received_at: get(row, 6)?,
                    reason: get(row, 7)?,
                    problem: get(row, 8)?,
                    payload: get(row, 9)?,
                    released_at: get(row, 10)?,
                })
            })
            .collect()
    }

    pub(crate) async fn release_quarantine(&self, ids: &[i64], at: i64) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let update = Query::update()
            .table("quarantine")
            .value("released_at", at)
            .and_where(Expr::col("id").is_in(ids.iter().copied()))
            .to_owned();
        self.db.execute(&update).await.map_err(StoreError::query("release quarantine"))?;
        Ok(())
    }

    pub(crate) async fn read_transitions(
        &self,
        key: &DeviceKey,
    ) -> Result<Vec<StoredTransition>, StoreError> {
        let Some(device_id) = self.find_device(key).await? else { return Ok(Vec::new()) };
        let select = Query::select()
            .columns([
                "id",
                "tst",
                "wtst",
                "event",
                "descr",
                "lat",
                "lon",
                "acc",
                "trig",
                "rid",
                "received_at",
            ])
            .from("transitions")
            .and_where(Expr::col("device_id").eq(device_id))
            .order_by("tst", Order::Asc)
            .order_by("id", Order::Asc)
            .to_owned();
        let rows =
            self.db.query_all(&select).await.map_err(StoreError::query("read transitions"))?;
        rows.iter()
            .map(|row| {
                Ok(StoredTransition {
                    id: get(row, 0)?,
                    tst: get(row, 1)?,
                    wtst: get(row, 2)?,
                    event: get(row, 3)?,
                    desc: get(row, 4)?,
                    lat: get(row, 5)?,
                    lon: get(row, 6)?,
                    acc: get(row, 7)?,
                    trigger: get(row, 8)?,
                    rid: get(row, 9)?,
                    received_at: get(row, 10)?,
                })
            })
            .collect()
    }

    pub(crate) async fn read_waypoints(
        &self,
        key: &DeviceKey,
    ) -> Result<Vec<StoredWaypoint>, StoreError> {
        let Some(device_id) = self.find_device(key).await? else { return Ok(Vec::new()) };
        let select = Query::select()
            .columns(["tst", "descr", "lat", "lon", "rad", "rid", "updated_at"])
            .from("waypoints")
            .and_where(Expr::col("device_id").eq(device_id))
            .order_by("tst", Order::Asc)
            .to_owned();
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read waypoints"))?;
        rows.iter()
            .map(|row| {
                Ok(StoredWaypoint {
                    tst: get(row, 0)?,
                    desc: get(row, 1)?,
                    lat: get(row, 2)?,
                    lon: get(row, 3)?,
                    rad: get(row, 4)?,
                    rid: get(row, 5)?,
                    updated_at: get(row, 6)?,
                })
            })
            .collect()
    }

    pub(crate) async fn read_cards(
        &self,
        user: Option<&UserName>,
    ) -> Result<Vec<StoredCard>, StoreError> {
        let mut select = Query::select()
            .columns(["user_name", "device_name", "name", "face", "tid", "updated_at"])
            .from("cards")
            .order_by("user_name", Order::Asc)
            .order_by("device_name", Order::Asc)
            .to_owned();
        if let Some(user) = user {
            select.and_where(Expr::col("user_name").eq(user.as_str()));
        }
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read cards"))?;
        rows.iter()
            .map(|row| {
                let device: String = get(row, 1)?;
                Ok(StoredCard {
                    user: get(row, 0)?,
                    device: (!device.is_empty()).then_some(device),
                    name: get(row, 2)?,
                    face: get(row, 3)?,
                    tid: get(row, 4)?,
                    updated_at: get(row, 5)?,
                })
            })
            .collect()
    }

    pub(crate) async fn delete_card(
        &self,
        user: &UserName,
        device: Option<&DeviceName>,
    ) -> Result<bool, StoreError> {
        let delete = Query::delete()
            .from_table("cards")
            .and_where(Expr::col("user_name").eq(user.as_str()))
            .and_where(Expr::col("device_name").eq(device.map_or("", DeviceName::as_str)))
            .to_owned();
        let result = self.db.execute(&delete).await.map_err(StoreError::query("delete card"))?;
        Ok(result.rows_affected() > 0)
    }

    pub(crate) async fn read_device_state(
        &self,
        key: &DeviceKey,
    ) -> Result<Option<DeviceState>, StoreError> {
        let select = Query::select()
            .columns([
                "first_seen",
                "last_seen",
                "online",
                "online_at",
                "info",
                "imei",
                "vbatt",
                "vext",
                "odo",
            ])
            .from("devices")
            .and_where(Expr::col("user_name").eq(key.user.as_str()))
            .and_where(Expr::col("device_name").eq(key.device.as_str()))
            .to_owned();
        let row = self.db.query_one(&select).await.map_err(StoreError::query("read device"))?;
        row.map(|row| {
            let online: Option<i16> = get(&row, 2)?;
            Ok(DeviceState {
                first_seen: get(&row, 0)?,
                last_seen: get(&row, 1)?,
                online: online.map(i64::from),
                online_at: get(&row, 3)?,
                info: get(&row, 4)?,
                imei: get(&row, 5)?,
                vbatt: get(&row, 6)?,
                vext: get(&row, 7)?,
                odo: get(&row, 8)?,
            })
        })
        .transpose()
    }

    pub(crate) async fn read_inventory(&self) -> Result<Vec<InventoryItem>, StoreError> {
        let select = Query::select()
            .columns(
                ["imei", "version", "startup", "vbatt", "vext", "updated_at"].map(|c| ("i", c)),
            )
            .columns([("d", "user_name"), ("d", "device_name"), ("d", "odo")])
            .from_as("inventory", "i")
            .join_as(
                JoinType::InnerJoin,
                "devices",
                "d",
                Expr::col(("d", "id")).equals(("i", "device_id")),
            )
            .order_by(("i", "imei"), Order::Asc)
            .to_owned();
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read inventory"))?;
        rows.iter()
            .map(|row| {
                Ok(InventoryItem {
                    imei: get(row, 0)?,
                    key: parse(DeviceKey::parse(&name(row, 6)?, &name(row, 7)?))?,
                    version: get(row, 1)?,
                    startup: get(row, 2)?,
                    vbatt: get(row, 3)?,
                    vext: get(row, 4)?,
                    updated_at: get(row, 5)?,
                    odo: get(row, 8)?,
                })
            })
            .collect()
    }

    /// Sets or clears a device's odometer base; `false` when the device is unknown.
    pub(crate) async fn write_odometer(
        &self,
        key: &DeviceKey,
        odo: Option<f64>,
    ) -> Result<bool, StoreError> {
        let update = Query::update()
            .table("devices")
            .value("odo", odo)
            .and_where(Expr::col("user_name").eq(key.user.as_str()))
            .and_where(Expr::col("device_name").eq(key.device.as_str()))
            .to_owned();
        let result = self.db.execute(&update).await.map_err(StoreError::query("set odometer"))?;
        Ok(result.rows_affected() > 0)
    }

    pub(crate) async fn read_secret(&self, key: &DeviceKey) -> Result<Option<String>, StoreError> {
        let select = Query::select()
            .column("secret")
            .from("secrets")
            .and_where(Expr::col("user_name").eq(key.user.as_str()))
            .and_where(Expr::col("device_name").eq(key.device.as_str()))
            .to_owned();
        let row = self.db.query_one(&select).await.map_err(StoreError::query("read secret"))?;
        row.map(|row| get::<String>(&row, 0)).transpose()
    }

    pub(crate) async fn write_secret(
        &self,
        key: &DeviceKey,
        secret: Option<&str>,
        at: i64,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let delete = Query::delete()
            .from_table("secrets")
            .and_where(Expr::col("user_name").eq(key.user.as_str()))
            .and_where(Expr::col("device_name").eq(key.device.as_str()))
            .to_owned();
        // Setting one replaces the old: its failure is named for what was asked.
        let step = if secret.is_some() { "replace secret" } else { "delete secret" };
        let existed =
            txn.execute(&delete).await.map_err(StoreError::query(step))?.rows_affected() > 0;
        if let Some(secret) = secret {
            let insert = Query::insert()
                .into_table("secrets")
                .columns(["user_name", "device_name", "secret", "updated_at"])
                .values_panic([
                    Expr::val(key.user.as_str().to_owned()),
                    Expr::val(key.device.as_str().to_owned()),
                    Expr::val(secret.to_owned()),
                    Expr::val(at),
                ])
                .to_owned();
            txn.execute(&insert).await.map_err(StoreError::query("insert secret"))?;
        }
        txn.commit().await.map_err(StoreError::query("commit"))?;
        Ok(existed)
    }

    pub(crate) async fn read_secret_keys(&self) -> Result<Vec<DeviceKey>, StoreError> {
        let select = Query::select()
            .columns(["user_name", "device_name"])
            .from("secrets")
            .order_by("user_name", Order::Asc)
            .order_by("device_name", Order::Asc)
            .to_owned();
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read secrets"))?;
        rows.iter().map(|row| parse(DeviceKey::parse(&name(row, 0)?, &name(row, 1)?))).collect()
    }

    pub(crate) async fn write_friend(
        &self,
        user: &UserName,
        friend: &UserName,
        device: Option<&DeviceName>,
        add: bool,
    ) -> Result<bool, StoreError> {
        let device = device.map_or("", DeviceName::as_str).to_owned();
        if add {
            let insert = Query::insert()
                .into_table("friends")
                .columns(["user_name", "friend_user", "friend_device"])
                .values_panic([
                    Expr::val(user.as_str().to_owned()),
                    Expr::val(friend.as_str().to_owned()),
                    Expr::val(device),
                ])
                .to_owned();
            let pair = ["user_name", "friend_user", "friend_device"];
            let added = crate::dialect::insert_new(&self.db, insert, &pair).await;
            Ok(added.map_err(StoreError::query("write friend"))?.is_some())
        } else {
            let delete = Query::delete()
                .from_table("friends")
                .and_where(Expr::col("user_name").eq(user.as_str()))
                .and_where(Expr::col("friend_user").eq(friend.as_str()))
                .and_where(Expr::col("friend_device").eq(device))
                .to_owned();
            let result = self.db.execute(&delete).await;
            Ok(result.map_err(StoreError::query("write friend"))?.rows_affected() > 0)
        }
    }

    pub(crate) async fn read_friends(
        &self,
        user: &UserName,
    ) -> Result<Vec<(UserName, Option<DeviceName>)>, StoreError> {
        let select = Query::select()
            .columns(["friend_user", "friend_device"])
            .from("friends")
            .and_where(Expr::col("user_name").eq(user.as_str()))
            .order_by("friend_user", Order::Asc)
            .order_by("friend_device", Order::Asc)
            .to_owned();
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read friends"))?;
        rows.iter().map(|row| friend_entry(row, 0)).collect()
    }

    /// Every user's friend list (see `answers`).
    pub(crate) async fn read_all_friends(&self) -> Result<FriendLists, StoreError> {
        let select = Query::select()
            .columns(["user_name", "friend_user", "friend_device"])
            .from("friends")
            .order_by("user_name", Order::Asc)
            .order_by("friend_user", Order::Asc)
            .order_by("friend_device", Order::Asc)
            .to_owned();
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read friends"))?;
        let mut lists = FriendLists::new();
        for row in &rows {
            let user = parse(UserName::parse(&name(row, 0)?))?;
            lists.entry(user).or_default().push(friend_entry(row, 1)?);
        }
        Ok(lists)
    }

    /// The devices with commands not yet taken over HTTP (see `answers`).
    pub(crate) async fn pending_http_devices(&self) -> Result<HashSet<DeviceKey>, StoreError> {
        let select = Query::select()
            .distinct()
            .columns(["user_name", "device_name"])
            .from("commands")
            .and_where(Expr::col("http_at").is_null())
            .to_owned();
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read commands"))?;
        rows.iter().map(|row| parse(DeviceKey::parse(&name(row, 0)?, &name(row, 1)?))).collect()
    }

    pub(crate) async fn insert_command(
        &self,
        key: &DeviceKey,
        action: &str,
        payload: &str,
        at: i64,
    ) -> Result<i64, StoreError> {
        insert_command_on(&self.db, key, action, payload, at).await
    }

    pub(crate) async fn mark_command_published(
        &self,
        id: i64,
        result: Result<(), String>,
        at: i64,
    ) -> Result<(), StoreError> {
        let mut update = Query::update();
        update.table("commands").and_where(Expr::col("id").eq(id));
        match result {
            Ok(()) => update.value("mqtt_at", at).value("mqtt_error", Option::<String>::None),
            Err(error) => update.value("mqtt_error", error),
        };
        self.db.execute(&update).await.map_err(StoreError::query("mark command"))?;
        Ok(())
    }

    pub(crate) async fn read_commands(
        &self,
        key: Option<&DeviceKey>,
        pending_http: bool,
    ) -> Result<Vec<StoredCommand>, StoreError> {
        let mut select = Query::select()
            .columns([
                "id",
                "user_name",
                "device_name",
                "action",
                "payload",
                "created_at",
                "mqtt_at",
                "mqtt_error",
                "http_at",
            ])
            .from("commands")
            .order_by("id", Order::Asc)
            .to_owned();
        if let Some(key) = key {
            select
                .and_where(Expr::col("user_name").eq(key.user.as_str()))
                .and_where(Expr::col("device_name").eq(key.device.as_str()));
        }
        if pending_http {
            select.and_where(Expr::col("http_at").is_null());
        }
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read commands"))?;
        rows.iter().map(command).collect()
    }

    pub(crate) async fn take_commands(
        &self,
        key: &DeviceKey,
        at: i64,
    ) -> Result<Vec<StoredCommand>, StoreError> {
        let pending = self.read_commands(Some(key), true).await?;
        // Each command is claimed on its own: another worker answering the same device at the
        // same moment claims the rest, and no command is handed out twice.
        let mut taken = Vec::with_capacity(pending.len());
        for mut command in pending {
            let update = Query::update()
                .table("commands")
                .value("http_at", at)
                .and_where(Expr::col("id").eq(command.id))
                .and_where(Expr::col("http_at").is_null())
                .to_owned();
            let claimed =
                self.db.execute(&update).await.map_err(StoreError::query("deliver commands"))?;
            if claimed.rows_affected() == 1 {
                command.http_at = Some(at);
                taken.push(command);
            }
        }
        Ok(taken)
    }

    pub(crate) async fn read_rawdata(&self) -> Result<Vec<(String, i64, Vec<u8>)>, StoreError> {
        let select = Query::select()
            .columns(["topic", "received_at", "payload"])
            .from("rawdata")
            .order_by("id", Order::Asc)
            .to_owned();
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read rawdata"))?;
        rows.iter().map(|row| Ok((get(row, 0)?, get(row, 1)?, get(row, 2)?))).collect()
    }

    pub(crate) async fn delete_rawdata(&self, before: i64) -> Result<u64, StoreError> {
        let delete = Query::delete()
            .from_table("rawdata")
            .and_where(Expr::col("received_at").lt(before))
            .to_owned();
        let result = self.db.execute(&delete).await.map_err(StoreError::query("prune rawdata"))?;
        Ok(result.rows_affected())
    }
}

/// Records a command for `key` on `conn` (the pool, or a batch's transaction); returns its id.
pub(crate) async fn insert_command_on(
    conn: &impl ConnectionTrait,
    key: &DeviceKey,
    action: &str,
    payload: &str,
    at: i64,
) -> Result<i64, StoreError> {
    let insert = Query::insert()
        .into_table("commands")
        .columns(["user_name", "device_name", "action", "payload", "created_at"])
        .values_panic([
            Expr::val(key.user.as_str().to_owned()),
            Expr::val(key.device.as_str().to_owned()),
            Expr::val(action.to_owned()),
            Expr::val(payload.to_owned()),
            Expr::val(at),
        ])
        .to_owned();
    crate::dialect::insert_id(conn, insert).await.map_err(StoreError::query("insert command"))
}

fn command(row: &QueryResult) -> Result<StoredCommand, StoreError> {
    Ok(StoredCommand {
        id: get(row, 0)?,
        key: parse(DeviceKey::parse(&name(row, 1)?, &name(row, 2)?))?,
        action: get(row, 3)?,
        payload: get(row, 4)?,
        created_at: get(row, 5)?,
        mqtt_at: get(row, 6)?,
        mqtt_error: get(row, 7)?,
        http_at: get(row, 8)?,
    })
}

/// One friend-list entry from `row`, its friend user at `first` and device (empty for every
/// device of the user) after it.
fn friend_entry(
    row: &sea_orm::QueryResult,
    first: usize,
) -> Result<(UserName, Option<DeviceName>), StoreError> {
    let friend = parse(UserName::parse(&name(row, first)?))?;
    let device = name(row, first + 1)?;
    let device = if device.is_empty() { None } else { Some(parse(DeviceName::parse(&device))?) };
    Ok((friend, device))
}
