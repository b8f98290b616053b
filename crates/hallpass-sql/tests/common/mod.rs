//! Table hygiene for the server-backed tests: tables left by earlier runs, and the
//! ones a test made for itself.

#![allow(
    dead_code,
    reason = "a test binary uses one of the two helpers, never both"
)]

use sqlx::{
    AssertSqlSafe, ColumnIndex, Database, Decode, Executor, IntoArguments, Pool, Row, Type,
};

/// Drops every table `list_tables` names (its one column is a table name) that does
/// not start with `keep`: what earlier runs left behind.
pub(crate) async fn drop_other_tables<DB>(pool: &Pool<DB>, list_tables: &'static str, keep: &str)
where
    DB: Database,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    <DB as Database>::Arguments: IntoArguments<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<<DB as Database>::Row>,
{
    let rows = sqlx::query(list_tables).fetch_all(pool).await.unwrap();
    let names: Vec<String> = rows.iter().map(|row| row.try_get(0).unwrap()).collect();
    let stale = names.into_iter().filter(|name| !name.starts_with(keep));
    drop_tables(pool, stale).await;
}

/// Drops the tables of the store with this `options`' prefix.
pub(crate) async fn drop_own_tables<DB>(pool: &Pool<DB>, options: &hallpass_sql::SqlOptions)
where
    DB: Database,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    <DB as Database>::Arguments: IntoArguments<DB>,
{
    let own =
        ["labels", "sessions", "principals", "schema_migrations"].map(|name| options.table(name));
    drop_tables(pool, own).await;
}

async fn drop_tables<DB>(pool: &Pool<DB>, names: impl IntoIterator<Item = String>)
where
    DB: Database,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    <DB as Database>::Arguments: IntoArguments<DB>,
{
    for name in names {
        assert!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "not a plain table name: {name:?}"
        );
        sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS {name}")))
            .execute(pool)
            .await
            .unwrap();
    }
}
