//! Tours in the database (see `pista_core::tour`): a `request` message is answered inside the
//! transaction that stores it, so a tour exists exactly when the message that asked for it is
//! committed, and the answer is queued in `commands` (action `response`) in the same step. HTTP
//! mode hands it over in the answer to the very post that asked; ingest publishes it to the
//! device's `cmd` topic when the request came over MQTT.

use pista_core::DeviceKey;
use pista_core::tour::{self, Asked, Request, Tour, TourId};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseTransaction, QueryResult};

use crate::error::StoreError;
use crate::read::{get, name, parse};
use crate::records::StoredTour;

/// The most tours one device may have: a link each, and a list the app is sent whole.
pub const MAX_TOURS: u64 = 100;

/// Does what `request` asks for `key` and queues the answer; returns the answer's command id,
/// or `None` when the request is not to be answered (it was not marked so by ingest).
pub(crate) async fn answer(
    txn: &DatabaseTransaction,
    key: &DeviceKey,
    request: &Request,
    at: i64,
) -> Result<Option<i64>, StoreError> {
    let Some(answering) = &request.answer else { return Ok(None) };
    let base = answering.base_url.as_str();
    let answer = match &request.asked {
        Err(error) => tour::refused(&request.name, 400, &error.to_string()),
        Ok(Asked::Tour(_)) if count(txn, key).await? >= MAX_TOURS => tour::refused(
            "tour",
            409,
            &format!("{key} has {MAX_TOURS} tours, the most a device may have: untour one first"),
        ),
        Ok(Asked::Tour(new)) => match &answering.uuid {
            Some(uuid) => {
                let tour = new.with_id(uuid.clone());
                insert(txn, key, &tour, at).await?;
                tour::created(&tour, base)
            }
            None => tour::refused("tour", 500, "the server made no id for the tour"),
        },
        Ok(Asked::Tours) => {
            let tours: Vec<Tour> = owned(txn, key).await?.into_iter().map(|t| t.tour).collect();
            tour::listed(&tours, base)
        }
        Ok(Asked::Untour(uuid)) => match delete(txn, key, uuid).await? {
            true => tour::removed(uuid),
            false => tour::refused("untour", 404, &format!("{key} has no tour {uuid}")),
        },
    };
    let payload = answer.to_string();
    let id = crate::rows::insert_command_on(txn, key, "response", &payload, at).await?;
    crate::revision::bump(txn, crate::revision::COMMANDS).await?;
    Ok(Some(id))
}

/// The columns of a tour, as written and read.
const COLUMNS: [&str; 9] = [
    "uuid",
    "user_name",
    "device_name",
    "label",
    "from_text",
    "to_text",
    "from_tst",
    "to_tst",
    "created_at",
];

async fn insert(
    txn: &DatabaseTransaction,
    key: &DeviceKey,
    tour: &Tour,
    at: i64,
) -> Result<(), StoreError> {
    let insert = Query::insert()
        .into_table("tours")
        .columns(COLUMNS)
        .values_panic([
            Expr::val(tour.uuid.as_str()),
            Expr::val(key.user.as_str()),
            Expr::val(key.device.as_str()),
            Expr::val(tour.label.as_str()),
            Expr::val(tour.from.as_str()),
            Expr::val(tour.to.as_str()),
            Expr::val(tour.from_tst),
            Expr::val(tour.to_tst),
            Expr::val(at),
        ])
        .to_owned();
    txn.execute(&insert).await.map_err(StoreError::query("insert tour"))?;
    Ok(())
}

/// How many tours `key` has.
async fn count(txn: &DatabaseTransaction, key: &DeviceKey) -> Result<u64, StoreError> {
    let select = Query::select()
        .expr(Expr::col("uuid").count())
        .from("tours")
        .and_where(Expr::col("user_name").eq(key.user.as_str()))
        .and_where(Expr::col("device_name").eq(key.device.as_str()))
        .to_owned();
    let row = txn.query_one(&select).await.map_err(StoreError::query("count tours"))?;
    let count: i64 = match row {
        Some(row) => get(&row, 0)?,
        None => 0,
    };
    Ok(count.unsigned_abs())
}

/// Deletes `uuid` if `key` owns it; returns whether it did.
async fn delete(
    txn: &DatabaseTransaction,
    key: &DeviceKey,
    uuid: &TourId,
) -> Result<bool, StoreError> {
    let delete = Query::delete()
        .from_table("tours")
        .and_where(Expr::col("uuid").eq(uuid.as_str()))
        .and_where(Expr::col("user_name").eq(key.user.as_str()))
        .and_where(Expr::col("device_name").eq(key.device.as_str()))
        .to_owned();
    let result = txn.execute(&delete).await.map_err(StoreError::query("delete tour"))?;
    Ok(result.rows_affected() == 1)
}

fn select() -> SelectStatement {
    Query::select().columns(COLUMNS).from("tours").order_by("id", Order::Asc).to_owned()
}

/// The tours of `key`, oldest first.
pub(crate) async fn owned(
    conn: &impl ConnectionTrait,
    key: &DeviceKey,
) -> Result<Vec<StoredTour>, StoreError> {
    let select = select()
        .and_where(Expr::col("user_name").eq(key.user.as_str()))
        .and_where(Expr::col("device_name").eq(key.device.as_str()))
        .to_owned();
    let rows = conn.query_all(&select).await.map_err(StoreError::query("read tours"))?;
    rows.iter().map(row).collect()
}

/// The tour `uuid`, if it exists.
pub(crate) async fn find(
    conn: &impl ConnectionTrait,
    uuid: &TourId,
) -> Result<Option<StoredTour>, StoreError> {
    let select = select().and_where(Expr::col("uuid").eq(uuid.as_str())).to_owned();
    let row_found = conn.query_one(&select).await.map_err(StoreError::query("read tour"))?;
    row_found.as_ref().map(row).transpose()
}

fn row(row: &QueryResult) -> Result<StoredTour, StoreError> {
    let uuid: String = get(row, 0)?;
    let uuid = TourId::parse(&uuid)
        .map_err(|error| StoreError::Corrupt { what: "tour", detail: error.to_string() })?;
    Ok(StoredTour {
        key: parse(DeviceKey::parse(&name(row, 1)?, &name(row, 2)?))?,
        tour: Tour {
            uuid,
            label: get(row, 3)?,
            from: get(row, 4)?,
            to: get(row, 5)?,
            from_tst: get(row, 6)?,
            to_tst: get(row, 7)?,
        },
        created_at: get(row, 8)?,
    })
}
