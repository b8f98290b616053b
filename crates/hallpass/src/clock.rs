//! Time, made injectable so every timeout test runs without sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::record::Timestamp;

/// A source of "now". The layer, the stores' sweepers and every deadline check read
/// time only through this trait.
///
/// # Examples
///
/// ```
/// use hallpass::{Clock, SystemClock};
///
/// let now = SystemClock.now();
/// assert!(now.as_unix_millis() > 1_600_000_000_000);
/// ```
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The operating system's wall clock.
#[expect(
    clippy::exhaustive_structs,
    reason = "a unit marker that callers construct; it will never gain fields"
)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        #[expect(
            clippy::disallowed_methods,
            reason = "this is the one place that reads the wall clock"
        )]
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Timestamp::from_unix_millis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that moves only when told to: for tests of timeouts and expiry.
///
/// Clones share the same time.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hallpass::{Clock, ManualClock};
///
/// let clock = ManualClock::starting_at_unix_millis(1_000);
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(clock.now().as_unix_millis(), 3_000);
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    millis: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at `millis` since the Unix epoch.
    #[must_use]
    pub fn starting_at_unix_millis(millis: u64) -> Self {
        Self {
            millis: Arc::new(AtomicU64::new(millis)),
        }
    }

    /// A clock standing at the current wall-clock time.
    #[must_use]
    pub fn starting_now() -> Self {
        Self::starting_at_unix_millis(SystemClock.now().as_unix_millis())
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.millis.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.millis.load(Ordering::SeqCst))
    }
}
