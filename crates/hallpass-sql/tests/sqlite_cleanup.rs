//! The cleanup task survives a real database error: the sessions table is renamed
//! away under it (every purge fails), then back; the task, never restarted, purges.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests report failures by panicking"
)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hallpass::store::{Record, SessionStore, StoreKey};
use hallpass::time::{ManualClock, Timestamp};
use hallpass::{CleanupConfig, Handle};
use hallpass_sql::SqlOptions;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn cleanup_task_keeps_running_through_database_errors() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = hallpass_sql::sqlite::connect("sqlite::memory:", SqlOptions::default())
        .await
        .unwrap();
    let clock = ManualClock::starting_now();
    let now = hallpass::time::Clock::now(&clock);
    for _ in 0..20 {
        let record = Record::new(
            Handle::generate(),
            now,
            Duration::from_secs(1),
            Duration::from_secs(60),
        );
        store
            .create(
                &StoreKey::random(&record.handle),
                &record,
                &hallpass::store::Admission::default(),
            )
            .await
            .unwrap();
    }
    clock.advance(Duration::from_secs(5));
    let table = store.options().table("sessions");
    let rename =
        |from: &str, to: &str| sqlx::AssertSqlSafe(format!("ALTER TABLE {from} RENAME TO {to}"));
    sqlx::query(rename(&table, "away"))
        .execute(store.pool())
        .await
        .unwrap();

    let task = hallpass::spawn_cleanup(
        Arc::new(store.clone()),
        Arc::new(clock.clone()),
        CleanupConfig::default()
            .with_every(Duration::from_millis(5))
            .with_max_backoff(Duration::from_millis(20)),
    );
    let failures = || {
        String::from_utf8_lossy(&capture.0.lock().unwrap())
            .matches("cleanup_failed")
            .count()
    };
    for _ in 0..400 {
        if failures() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(failures() >= 2, "the purge failed and was retried");
    assert!(!task.is_finished());

    sqlx::query(rename("away", &table))
        .execute(store.pool())
        .await
        .unwrap();
    let epoch = Timestamp::from_unix_millis(0);
    for _ in 0..400 {
        if store.count(epoch).await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        store.count(epoch).await.unwrap(),
        0,
        "purged once the table was back"
    );
    task.abort();
}
