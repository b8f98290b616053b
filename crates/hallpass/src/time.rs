//! Time: [`Timestamp`], and the [`Clock`] that says what time it is, made injectable
//! so every timeout test runs without sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A point in time, in whole milliseconds since the Unix epoch (UTC).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hallpass::time::Timestamp;
///
/// let t = Timestamp::from_unix_millis(1_000);
/// assert_eq!(t.saturating_add(Duration::from_secs(1)).as_unix_millis(), 2_000);
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// From milliseconds since the Unix epoch.
    #[must_use]
    pub const fn from_unix_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    #[must_use]
    pub const fn as_unix_millis(self) -> u64 {
        self.0
    }

    /// `self + by`, saturating at the far future instead of overflowing (SR-36).
    #[must_use]
    pub fn saturating_add(self, by: Duration) -> Self {
        Self(
            self.0
                .saturating_add(u64::try_from(by.as_millis()).unwrap_or(u64::MAX)),
        )
    }

    /// `self - by`, saturating at the Unix epoch.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hallpass::time::Timestamp;
    /// let t = Timestamp::from_unix_millis(5_000);
    /// assert_eq!(t.saturating_sub(Duration::from_secs(2)), Timestamp::from_unix_millis(3_000));
    /// assert_eq!(t.saturating_sub(Duration::from_secs(9)), Timestamp::from_unix_millis(0));
    /// ```
    #[must_use]
    pub fn saturating_sub(self, by: Duration) -> Self {
        Self(
            self.0
                .saturating_sub(u64::try_from(by.as_millis()).unwrap_or(u64::MAX)),
        )
    }

    /// How long from `earlier` to `self`; zero when `earlier` is later.
    #[must_use]
    pub fn since(self, earlier: Self) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// A source of "now". The layer, the stores' sweepers and every deadline check read
/// time only through this trait.
///
/// # Examples
///
/// ```
/// use hallpass::time::{Clock, SystemClock};
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
/// use hallpass::time::{Clock, ManualClock};
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
