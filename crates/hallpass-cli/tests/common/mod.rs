//! Running the `hallpass` binary, and seeding a store to run it against.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers shared by several test binaries; failures panic"
)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use hallpass::Handle;
use hallpass::store::{ClientMeta, Record, SessionStore, StoreKey};
use hallpass::time::{Clock as _, SystemClock};

/// What a run of the binary left: exit code, stdout, stderr.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub out: String,
    pub err: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.out).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.out))
    }

    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "stdout: {}\nstderr: {}", self.out, self.err);
        self
    }
}

pub fn hallpass(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args(args)
        .env_remove("HALLPASS_STORE")
        .env_remove("HALLPASS_NAMESPACE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&output.stdout).into_owned(),
        err: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// 12 random hex digits (a fresh handle's first bytes), for namespaces no other run uses.
pub fn suffix() -> String {
    Handle::generate().as_bytes()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A session created straight in the store.
pub async fn seed(
    store: &Arc<dyn SessionStore>,
    user: Option<&str>,
    idle: Duration,
    ip: &str,
    agent: &str,
    data: &[(&str, serde_json::Value)],
) -> Handle {
    let now = SystemClock.now();
    let mut record = Record::new(
        Handle::generate(),
        now,
        idle,
        Duration::from_secs(12 * 3600),
    );
    record.principal = user.map(Into::into);
    record.client = ClientMeta::new(Some(ip.parse().unwrap()), Some(agent));
    for (key, value) in data {
        record.data.insert((*key).to_owned(), value.clone());
    }
    let key = StoreKey::random(&record.handle);
    assert_eq!(
        store
            .create(&key, &record, &hallpass::store::Admission::default())
            .await
            .unwrap(),
        hallpass::store::Created::INSERTED
    );
    record.handle
}

pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}
