//! Names that keep parallel tests apart on a shared database server.
//!
//! Every table prefix of a run starts with [`run_id`] (`hpt` + process id + a
//! nanosecond stamp), so tables left behind by earlier runs can be told apart and
//! dropped, while this run's are kept.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// This process's stem for table prefixes.
pub fn run_id() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| {
        let nanos = std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .map_or(0, |d| d.subsec_nanos());
        format!("hpt{}{}", std::process::id(), nanos % 100_000)
    })
}

/// A table prefix no other test of any run uses: `<run_id>_<n>_`.
pub fn next_prefix() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{}_{}_", run_id(), N.fetch_add(1, Ordering::SeqCst))
}
