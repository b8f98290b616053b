//! The conformance suite against a real MySQL or MariaDB server (`DATABASE_URL_MYSQL`, default
//! `mysql://root@127.0.0.1:3306/test`). Each test gets its own table prefix, so the tests run in
//! parallel; tables left by earlier runs are dropped.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

mod common;

use std::sync::Arc;

use hallpass_sql::SqlOptions;
use hallpass_sql::mysql::MySqlStore;
use hallpass_testkit::isolation;

const LIST_TEST_TABLES: &str = "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE 'hpt%'";

async fn fresh() -> MySqlStore {
    let url = std::env::var("DATABASE_URL_MYSQL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned());
    let options = SqlOptions::default()
        .with_table_prefix(&isolation::next_prefix())
        .unwrap();
    let store = hallpass_sql::mysql::connect(&url, options)
        .await
        .expect("MySQL or MariaDB reachable at DATABASE_URL_MYSQL");
    common::drop_other_tables(store.pool(), LIST_TEST_TABLES, isolation::run_id()).await;
    store
}

mod store {
    hallpass_testkit::store_conformance!(super::fresh());
}

mod http {
    hallpass_testkit::http_conformance!(super::fresh());
}

/// 100,000 rows from a cross join of five digit tables (MariaDB caps recursive CTEs).
const BULK_INSERT: &str = "INSERT INTO {t} (token_hash, handle, principal, data, created_at, last_seen_at, idle_deadline, \
     absolute_deadline, expires_at, version, remember) \
     SELECT UNHEX(SHA2(n, 256)), UNHEX(LPAD(HEX(n), 32, '0')), NULL, '{{}}', 0, 0, 1000, 2000, 1000, 1, false FROM \
     (SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d AS n FROM (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) a, (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) b, (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) c, (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) e, (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) f) AS g";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_of_100k_expired_sessions_runs_in_bounded_batches() {
    let store = fresh().await;
    let insert = BULK_INSERT
        .replace("{t}", &store.options().table("sessions"))
        .replace("{{}}", "{}");
    sqlx::query(sqlx::AssertSqlSafe(insert))
        .execute(store.pool())
        .await
        .unwrap();
    hallpass_testkit::store_cases::purge_bulk_in_bounded_batches(Arc::new(store), 100_000).await;
}

/// MySQL's `GET_LOCK` belongs to a connection, not a transaction: a migration that
/// left it held made every other process opening the store wait 30 s for it.
#[tokio::test]
async fn the_migration_lock_is_released_when_the_migration_ends() {
    use sqlx::Connection as _;
    let store = fresh().await;
    let url = std::env::var("DATABASE_URL_MYSQL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned());
    let mut other = sqlx::MySqlConnection::connect(&url).await.unwrap();
    let name = store.options().table("migrate");
    let (free,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT IS_FREE_LOCK('{name}')"
    )))
    .fetch_one(&mut other)
    .await
    .unwrap();
    assert_eq!(free, 1, "the store still holds its migration lock");
}
