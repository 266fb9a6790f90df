//! Recognising a message the broker (or a retrying client) sends again. Every stored message carries 64-bit
//! digests of its topic and payload (FNV-1a, stable across versions and platforms), indexed
//! with its device, so that a copy is found without reading the device's history; candidates
//! are then compared byte for byte, so a digest collision can never drop a real message.

use pista_core::Replay;
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use crate::error::StoreError;

/// FNV-1a over `bytes`, as a signed integer for the databases' BIGINT columns.
pub(crate) fn digest(bytes: &[u8]) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Whether a message of `device_id` on `topic` with `payload` repeats one already in `table`
/// (`messages`, compared by typed payload, or `quarantine`, by the client's bytes): for a
/// retained copy, the last message on the topic; for a redelivery, any message on the topic.
/// A quarantined message counts only while it has not been released.
pub(crate) async fn is_copy(
    txn: &DatabaseTransaction,
    table: &'static str,
    device_id: i64,
    topic: &str,
    payload: &[u8],
    replay: Replay,
) -> Result<bool, StoreError> {
    let mut select = Query::select()
        .columns(["topic", "payload"])
        .from(table)
        .and_where(Expr::col("device_id").eq(device_id))
        .and_where(Expr::col("topic_hash").eq(digest(topic.as_bytes())))
        .to_owned();
    match replay {
        Replay::Fresh => return Ok(false),
        Replay::Retained => select.order_by("id", Order::Desc).limit(1),
        Replay::Redelivered => {
            select.and_where(Expr::col("payload_hash").eq(digest(payload))).limit(16)
        }
    };
    if table == "quarantine" {
        select.and_where(Expr::col("released_at").is_null());
    }
    let rows = txn.query_all(&select).await.map_err(StoreError::query("find copies"))?;
    for row in rows {
        let stored_topic: String =
            row.try_get_by_index(0).map_err(StoreError::query("read copy"))?;
        let stored: Vec<u8> = if table == "messages" {
            let text: String = row.try_get_by_index(1).map_err(StoreError::query("read copy"))?;
            text.into_bytes()
        } else {
            row.try_get_by_index(1).map_err(StoreError::query("read copy"))?
        };
        if stored_topic == topic && stored == payload {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_the_published_fnv_1a_values() {
        // Reference values of 64-bit FNV-1a.
        assert_eq!(digest(b"") as u64, 0xcbf2_9ce4_8422_2325);
        assert_eq!(digest(b"a") as u64, 0xaf63_dc4c_8601_ec8c);
        assert_eq!(digest(b"foobar") as u64, 0x8594_4171_f739_67e8);
    }
}
