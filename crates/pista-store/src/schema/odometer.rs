//! The `devices.odo` column: a device's odometer base in km, set by hand over the API (the
//! original kept it in its Greenwich inventory, where an operator typed it in). The device object
//! shows it beside the Greenwich trip, so the Table can give trip plus odometer.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::double_null;

pub(crate) struct Odometer;

impl MigrationName for Odometer {
    fn name(&self) -> &str {
        "m20261210_000001_odometer"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Odometer {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let alter = Table::alter().table("devices").add_column(double_null("odo")).to_owned();
        manager.alter_table(alter).await
    }
}
