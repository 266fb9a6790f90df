//! What a stored message changes besides its own row: a region event goes to `transitions`,
//! regions to `waypoints` (the newest version of each, keyed by its creation time), a card to
//! `cards`, a last will or a Greenwich status to the device's liveness, Greenwich info and
//! voltages to the device, and a Greenwich start-up line to the inventory keyed by IMEI.

use pista_core::{Detail, Message, Transition, Waypoint};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use serde_json::Value;

use crate::error::StoreError;
use crate::records::NewMessage;
use crate::write::{event_name, region};

pub(crate) async fn apply(
    txn: &DatabaseTransaction,
    device_id: i64,
    message_id: i64,
    message: &NewMessage,
    typed: &Message,
) -> Result<(), StoreError> {
    let now = message.received_at;
    match &typed.detail {
        Detail::Transition(transition) => {
            insert_transition(txn, device_id, message_id, transition, now).await
        }
        Detail::Waypoints(points) => {
            for point in points {
                upsert_waypoint(txn, device_id, point, now).await?;
            }
            Ok(())
        }
        Detail::Card(card) => {
            let Some(key) = &message.key else { return Ok(()) };
            let card = CardRow {
                user: key.user.as_str(),
                device: key.device.as_str(),
                name: card.name.clone(),
                face: card.face.clone(),
                tid: card.tid.clone(),
            };
            upsert_card(txn, card, now).await
        }
        Detail::Lwt => {
            set_device(txn, device_id, &[("online", Expr::val(0)), ("online_at", Expr::val(now))])
                .await
        }
        // Answered by `tours`, before this.
        Detail::Request(_) => Ok(()),
        Detail::None | Detail::Encrypted { .. } => greenwich(txn, device_id, typed, now).await,
    }
}

async fn greenwich(
    txn: &DatabaseTransaction,
    device_id: i64,
    typed: &Message,
    now: i64,
) -> Result<(), StoreError> {
    let value = |name: &str| typed.json.get(name);
    match typed.msg_type.as_str() {
        "gw-status" => {
            let status = value("status").and_then(Value::as_i64).unwrap_or(-1);
            set_device(
                txn,
                device_id,
                &[("online", Expr::val(status)), ("online_at", Expr::val(now))],
            )
            .await
        }
        "gw-info" => {
            let info = value("info").and_then(Value::as_str).map(str::to_owned);
            set_device(txn, device_id, &[("info", Expr::val(info))]).await
        }
        "gw-voltage" => {
            let column = match value("supply").and_then(Value::as_str) {
                Some("batt") => "vbatt",
                _ => "vext",
            };
            let volts = value("volts").and_then(Value::as_f64);
            set_device(txn, device_id, &[(column, Expr::val(volts))]).await?;
            let update = Query::update()
                .table("inventory")
                .value(column, volts)
                .value("updated_at", now)
                .and_where(Expr::col("device_id").eq(device_id))
                .to_owned();
            txn.execute(&update).await.map_err(StoreError::query("update inventory voltage"))?;
            Ok(())
        }
        "gw-start" => {
            let Some(imei) = value("imei").and_then(Value::as_str) else { return Ok(()) };
            let version = value("version").and_then(Value::as_str).unwrap_or_default();
            let startup = value("startup").and_then(Value::as_i64);
            set_device(txn, device_id, &[("imei", Expr::val(imei.to_owned()))]).await?;
            let insert = Query::insert()
                .into_table("inventory")
                .columns(["imei", "device_id", "version", "startup", "updated_at"])
                .values_panic([
                    Expr::val(imei.to_owned()),
                    Expr::val(device_id),
                    Expr::val(version.to_owned()),
                    Expr::val(startup),
                    Expr::val(now),
                ])
                .on_conflict(
                    OnConflict::column("imei")
                        .update_columns(["device_id", "version", "startup", "updated_at"])
                        .to_owned(),
                )
                .to_owned();
            txn.execute(&insert).await.map_err(StoreError::query("upsert inventory"))?;
            Ok(())
        }
        _ => Ok(()),
    }
}

async fn set_device(
    txn: &DatabaseTransaction,
    device_id: i64,
    values: &[(&'static str, Expr)],
) -> Result<(), StoreError> {
    let mut update = Query::update();
    update.table("devices").and_where(Expr::col("id").eq(device_id));
    for (column, value) in values {
        update.value(*column, value.clone());
    }
    txn.execute(&update).await.map_err(StoreError::query("update device state"))?;
    Ok(())
}

async fn insert_transition(
    txn: &DatabaseTransaction,
    device_id: i64,
    message_id: i64,
    t: &Transition,
    now: i64,
) -> Result<(), StoreError> {
    let insert = Query::insert()
        .into_table("transitions")
        .columns([
            "device_id",
            "message_id",
            "tst",
            "wtst",
            "event",
            "region",
            "descr",
            "lat",
            "lon",
            "acc",
            "trig",
            "rid",
            "received_at",
        ])
        .values_panic([
            Expr::val(device_id),
            Expr::val(message_id),
            Expr::val(t.tst),
            Expr::val(t.wtst),
            Expr::val(event_name(t)),
            Expr::val(region(t)),
            Expr::val(t.desc.clone()),
            Expr::val(t.lat),
            Expr::val(t.lon),
            Expr::val(t.acc),
            Expr::val(t.trigger.clone()),
            Expr::val(t.rid.clone()),
            Expr::val(now),
        ])
        .to_owned();
    let event = ["device_id", "tst", "event", "region"];
    crate::dialect::insert_new(txn, insert, &event)
        .await
        .map_err(StoreError::query("insert transition"))?;
    Ok(())
}

async fn upsert_waypoint(
    txn: &DatabaseTransaction,
    device_id: i64,
    point: &Waypoint,
    now: i64,
) -> Result<(), StoreError> {
    let payload = serde_json::to_string(&point.json).unwrap_or_default();
    let insert = Query::insert()
        .into_table("waypoints")
        .columns(["device_id", "tst", "descr", "lat", "lon", "rad", "rid", "payload", "updated_at"])
        .values_panic([
            Expr::val(device_id),
            Expr::val(point.tst),
            Expr::val(point.desc.clone()),
            Expr::val(point.lat),
            Expr::val(point.lon),
            Expr::val(point.rad),
            Expr::val(point.rid.clone()),
            Expr::val(payload),
            Expr::val(now),
        ])
        .on_conflict(
            OnConflict::columns(["device_id", "tst"])
                .update_columns(["descr", "lat", "lon", "rad", "rid", "payload", "updated_at"])
                .to_owned(),
        )
        .to_owned();
    txn.execute(&insert).await.map_err(StoreError::query("upsert waypoint"))?;
    sync_app_fence(txn, device_id, point, now).await
}

/// The largest radius of a region that becomes a fence, in metres: the fence API's limit
/// (`pista_derive::fence::MAX_RADIUS`). A larger region is stored as a waypoint only.
const MAX_REGION_RADIUS: f64 = 1_000_000.0;

/// Keeps the fence of an app's region in step with it: a region with a centre and a radius
/// (above 0, at most [`MAX_REGION_RADIUS`]) is a circle fence; any other is none.
async fn sync_app_fence(
    txn: &DatabaseTransaction,
    device_id: i64,
    point: &Waypoint,
    now: i64,
) -> Result<(), StoreError> {
    let circle = match (point.lat, point.lon, point.rad) {
        (Some(lat), Some(lon), Some(rad)) if rad > 0.0 && rad <= MAX_REGION_RADIUS => {
            Some((lat, lon, rad))
        }
        _ => None,
    };
    let Some((lat, lon, rad)) = circle else {
        let delete = Query::delete()
            .from_table("fences")
            .and_where(Expr::col("device_id").eq(device_id))
            .and_where(Expr::col("wtst").eq(point.tst))
            .to_owned();
        let result = txn.execute(&delete).await.map_err(StoreError::query("delete app fence"))?;
        if result.rows_affected() > 0 {
            crate::derived::bump_fences(txn).await?;
        }
        return Ok(());
    };
    let insert = Query::insert()
        .into_table("fences")
        .columns(["device_id", "wtst", "source", "name", "lat", "lon", "radius", "updated_at"])
        .values_panic([
            Expr::val(device_id),
            Expr::val(point.tst),
            Expr::val("app"),
            Expr::val(point.desc.clone()),
            Expr::val(lat),
            Expr::val(lon),
            Expr::val(rad),
            Expr::val(now),
        ])
        .on_conflict(
            OnConflict::columns(["device_id", "wtst"])
                .update_columns(["name", "lat", "lon", "radius", "updated_at"])
                .to_owned(),
        )
        .to_owned();
    txn.execute(&insert).await.map_err(StoreError::query("upsert app fence"))?;
    crate::derived::bump_fences(txn).await
}

/// A card to store; `device` is empty for the card of the user as a whole.
pub(crate) struct CardRow<'a> {
    pub user: &'a str,
    pub device: &'a str,
    pub name: Option<String>,
    pub face: Option<String>,
    pub tid: Option<String>,
}

pub(crate) async fn upsert_card<C: ConnectionTrait>(
    db: &C,
    card: CardRow<'_>,
    now: i64,
) -> Result<(), StoreError> {
    let insert = Query::insert()
        .into_table("cards")
        .columns(["user_name", "device_name", "name", "face", "tid", "updated_at"])
        .values_panic([
            Expr::val(card.user.to_owned()),
            Expr::val(card.device.to_owned()),
            Expr::val(card.name),
            Expr::val(card.face),
            Expr::val(card.tid),
            Expr::val(now),
        ])
        .on_conflict(
            OnConflict::columns(["user_name", "device_name"])
                .update_columns(["name", "face", "tid", "updated_at"])
                .to_owned(),
        )
        .to_owned();
    db.execute(&insert).await.map_err(StoreError::query("upsert card"))?;
    Ok(())
}
