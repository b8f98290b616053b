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

/// 100,000 rows from a cross join of five digit tables (MariaDB caps recursive CTEs).
const BULK_INSERT: &str = "INSERT INTO {t} (token_hash, handle, principal, data, created_at, last_seen_at, idle_deadline, \
     absolute_deadline, expires_at, version, remember) \
     SELECT UNHEX(SHA2(n, 256)), UNHEX(LPAD(HEX(n), 32, '0')), NULL, '{{}}', 0, 0, 1000, 2000, 1000, 1, false FROM \
     (SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d AS n FROM (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) a, (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) b, (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) c, (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) e, (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) f) AS g";

/// Purging 100,000 expired sessions goes in batches of at most 1,000, deletes
/// exactly those, and leaves live sessions alone. The DELETE runs in the database:
/// no row is loaded into the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_of_100k_expired_sessions_runs_in_bounded_batches() {
    use hallpass::SessionStore as _;
    let store = fresh().await;
    let table = store.options().table("sessions");
    sqlx::query(sqlx::AssertSqlSafe(
        BULK_INSERT.replace("{t}", &table).replace("{{}}", "{}"),
    ))
    .execute(store.pool())
    .await
    .unwrap();
    let clock = hallpass::ManualClock::starting_now();
    let now = hallpass::Clock::now(&clock);
    for _ in 0..10 {
        let record = hallpass::Record::new(
            hallpass::Handle::generate(),
            now,
            std::time::Duration::from_secs(600),
            std::time::Duration::from_secs(3600),
        );
        store
            .create(&hallpass::Token::generate().store_key(), &record)
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .count(hallpass::Timestamp::from_unix_millis(0))
            .await
            .unwrap(),
        100_010
    );
    let mut totals = Vec::new();
    let purged = hallpass::purge_expired(&store, &clock, 1_000, |total| totals.push(total))
        .await
        .unwrap();
    assert_eq!(purged, 100_000);
    let mut previous = 0;
    for total in &totals {
        assert!(
            total - previous <= 1_000,
            "a batch deleted {} rows",
            total - previous
        );
        previous = *total;
    }
    assert!(totals.len() >= 100, "{} batches", totals.len());
    assert_eq!(store.count(now).await.unwrap(), 10);
    assert_eq!(
        store
            .count(hallpass::Timestamp::from_unix_millis(0))
            .await
            .unwrap(),
        10
    );
}
