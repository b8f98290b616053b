//! The conformance suite against a real PostgreSQL server (`DATABASE_URL_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432/test`). Each test gets its own table prefix, so the tests run in
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
use hallpass_sql::postgres::PostgresStore;
use hallpass_testkit::isolation;

const LIST_TEST_TABLES: &str = "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'hpt%'";

async fn fresh() -> PostgresStore {
    let url = std::env::var("DATABASE_URL_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let options = SqlOptions::default()
        .with_table_prefix(&isolation::next_prefix())
        .unwrap();
    let store = hallpass_sql::postgres::connect(&url, options)
        .await
        .expect("PostgreSQL reachable at DATABASE_URL_POSTGRES");
    common::drop_other_tables(store.pool(), LIST_TEST_TABLES, isolation::run_id()).await;
    store
}

mod store {
    hallpass_testkit::store_conformance!(super::fresh());
}

mod http {
    hallpass_testkit::http_conformance!(super::fresh());
}

const BULK_INSERT: &str = "INSERT INTO {t} (token_hash, handle, principal, data, created_at, last_seen_at, idle_deadline, \
     absolute_deadline, expires_at, version, remember) SELECT sha256(int8send(g)), decode(lpad(to_hex(g), 32, '0'), 'hex'), \
     NULL, '{{}}', 0, 0, 1000, 2000, 1000, 1, false FROM generate_series(1, 100000) AS g";

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
