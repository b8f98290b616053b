//! Timestamps as people and scripts read them.

use std::time::{Duration, UNIX_EPOCH};

use hallpass::time::Timestamp;

/// The last millisecond RFC 3339 can write (9999-12-31T23:59:59.999Z).
const LAST_RFC3339_MILLIS: u64 = 253_402_300_799_999;

/// RFC 3339 in UTC with milliseconds, e.g. `2026-12-01T19:23:05.123Z`. A deadline
/// past the year 9999 (another program's record in a shared store) is clamped: the
/// formatter refuses it, and `to_string` would panic.
pub(crate) fn rfc3339(at: Timestamp) -> String {
    let millis = at.as_unix_millis().min(LAST_RFC3339_MILLIS);
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(millis)).to_string()
}

/// `2026-12-01 19:23 UTC`: a date and time for a person.
pub(crate) fn human(at: Timestamp) -> String {
    let text = rfc3339(at);
    format!("{} {} UTC", &text[..10], &text[11..16])
}

/// "just now", "5 minutes ago", "2 hours ago", "3 days ago".
pub(crate) fn ago(at: Timestamp, now: Timestamp) -> String {
    let secs = now.since(at).as_secs();
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match secs {
        0..60 => "just now".to_owned(),
        60..3_600 => plural(secs / 60, "minute"),
        3_600..86_400 => plural(secs / 3_600, "hour"),
        _ => plural(secs / 86_400, "day"),
    }
}

/// A duration the way the command line takes it: `30m`, `12h`, `2s`.
pub(crate) fn short(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_utc_with_millis() {
        assert_eq!(
            rfc3339(Timestamp::from_unix_millis(1_764_616_985_123)),
            "2025-12-01T19:23:05.123Z"
        );
    }

    #[test]
    fn far_future_times_are_clamped_not_a_panic() {
        let far = Timestamp::from_unix_millis(u64::MAX);
        assert_eq!(rfc3339(far), "9999-12-31T23:59:59.999Z");
        assert_eq!(human(far), "9999-12-31 23:59 UTC");
    }

    #[test]
    fn human_is_date_hours_minutes() {
        assert_eq!(
            human(Timestamp::from_unix_millis(1_764_616_985_123)),
            "2025-12-01 19:23 UTC"
        );
    }

    #[test]
    fn ago_picks_the_largest_whole_unit() {
        let now = Timestamp::from_unix_millis(10_000_000_000);
        let before = |secs: u64| Timestamp::from_unix_millis(10_000_000_000 - secs * 1000);
        assert_eq!(ago(before(5), now), "just now");
        assert_eq!(ago(before(60), now), "1 minute ago");
        assert_eq!(ago(before(150), now), "2 minutes ago");
        assert_eq!(ago(before(7_200), now), "2 hours ago");
        assert_eq!(ago(before(86_400 * 3), now), "3 days ago");
        // A clock that moved back shows "just now", never a negative age.
        assert_eq!(
            ago(now.saturating_add(Duration::from_secs(9)), now),
            "just now"
        );
    }
}
