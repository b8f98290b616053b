//! The conformance suite against a real MySQL or MariaDB server (`DATABASE_URL_MYSQL`,
//! default `mysql://root@127.0.0.1:3306/test`). Each test gets its own table
//! prefix, so the tests run in parallel; tables left by earlier runs are dropped.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use hallpass_mysql::MySqlStore;
use hallpass_sql::SqlOptions;
use sqlx::Row;

fn url() -> String {
    std::env::var("DATABASE_URL_MYSQL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

/// This run's prefix stem: tables of other runs are stale.
fn run_id() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| {
        let nanos = std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        format!("hpt{}{}", std::process::id(), nanos % 100_000)
    })
}

async fn drop_stale_tables() {
    static CLEANED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    CLEANED
        .get_or_init(|| async {
            let pool = sqlx::MySqlPool::connect(&url()).await.expect("MySQL reachable at DATABASE_URL_MYSQL");
            let rows = sqlx::query("SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE 'hpt%'")
                .fetch_all(&pool)
                .await
                .unwrap();
            for row in rows {
                let name: String = row.get(0);
                if !name.starts_with(run_id()) {
                    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {name}"))).execute(&pool).await.unwrap();
                }
            }
        })
        .await;
}

async fn fresh() -> MySqlStore {
    static N: AtomicUsize = AtomicUsize::new(0);
    drop_stale_tables().await;
    let prefix = format!("{}_{}_", run_id(), N.fetch_add(1, Ordering::SeqCst));
    let options = SqlOptions::default().with_table_prefix(&prefix).unwrap();
    hallpass_mysql::connect(&url(), options)
        .await
        .expect("MySQL reachable at DATABASE_URL_MYSQL")
}

mod store {
    hallpass_testkit::store_conformance!(super::fresh());
}

mod http {
    hallpass_testkit::http_conformance!(super::fresh());
}
