//! Queries behind the read API: users, devices, last positions, location ranges and raw
//! messages. Every location query uses the `(device_id, tst, ...)` index, so its cost follows the
//! size of the answer, not of the history.

use async_trait::async_trait;
use pista_core::{DeviceKey, DeviceName, Source, UserName};
use sea_orm::sea_query::{Expr, ExprTrait, JoinType, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, QueryResult};
use serde_json::{Map, Value};

use crate::Storage;
use crate::error::StoreError;
use crate::records::{
    LastLocation, LocationQuery, NewMessage, StoredLocation, StoredMessage, WriteOutcome,
};
use crate::sql::SqlStore;

const LOCATION_COLUMNS: [&str; 7] = ["id", "tst", "lat", "lon", "received_at", "topic", "payload"];

#[async_trait]
impl Storage for SqlStore {
    async fn write(&self, batch: &[NewMessage]) -> Result<Vec<WriteOutcome>, StoreError> {
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
                let key = DeviceKey::parse(&name(row, 7)?, &name(row, 8)?);
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

    async fn messages(&self, key: Option<&DeviceKey>) -> Result<Vec<StoredMessage>, StoreError> {
        let mut select = Query::select()
            .columns([
                ("m", "id"),
                ("m", "topic"),
                ("m", "subtopic"),
                ("m", "msg_type"),
                ("m", "source"),
                ("m", "retained"),
                ("m", "received_at"),
                ("m", "payload"),
                ("m", "problem"),
            ])
            .columns([("d", "user_name"), ("d", "device_name")])
            .from_as("messages", "m")
            .join_as(
                JoinType::LeftJoin,
                "devices",
                "d",
                Expr::col(("d", "id")).equals(("m", "device_id")),
            )
            .order_by(("m", "id"), Order::Asc)
            .to_owned();

        if let Some(key) = key {
            select
                .and_where(Expr::col(("d", "user_name")).eq(key.user.as_str()))
                .and_where(Expr::col(("d", "device_name")).eq(key.device.as_str()));
        }
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read messages"))?;
        rows.iter().map(message).collect()
    }
}

impl SqlStore {
    async fn find_device(&self, key: &DeviceKey) -> Result<Option<i64>, StoreError> {
        let select = Query::select()
            .column("id")
            .from("devices")
            .and_where(Expr::col("user_name").eq(key.user.as_str()))
            .and_where(Expr::col("device_name").eq(key.device.as_str()))
            .to_owned();
        let row = self.db.query_one(&select).await.map_err(StoreError::query("find device"))?;
        row.map(|row| get::<i64>(&row, 0)).transpose()
    }
}

fn location_select() -> SelectStatement {
    let columns = LOCATION_COLUMNS.map(|column| ("l", column));
    Query::select().columns(columns).from_as("locations", "l").to_owned()
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, index: usize) -> Result<T, StoreError> {
    row.try_get_by_index::<T>(index).map_err(StoreError::query("read column"))
}

fn name(row: &QueryResult, index: usize) -> Result<String, StoreError> {
    get::<String>(row, index)
}

fn parse<T>(result: Result<T, pista_core::NameError>) -> Result<T, StoreError> {
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
    })
}

fn message(row: &QueryResult) -> Result<StoredMessage, StoreError> {
    let user: Option<String> = get(row, 9)?;
    let device: Option<String> = get(row, 10)?;
    let key = match (user, device) {
        (Some(user), Some(device)) => Some(parse(DeviceKey::parse(&user, &device))?),
        _ => None,
    };

    let source: String = get(row, 4)?;
    let retained: i16 = get(row, 5)?;

    Ok(StoredMessage {
        id: get(row, 0)?,
        key,
        topic: get(row, 1)?,
        subtopic: get(row, 2)?,
        msg_type: get(row, 3)?,
        source: Source::from_name(&source).ok_or_else(|| StoreError::Corrupt {
            what: "message source",
            detail: source.clone(),
        })?,
        retained: retained != 0,
        received_at: get(row, 6)?,
        payload: get(row, 7)?,
        problem: get(row, 8)?,
    })
}
