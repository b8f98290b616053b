//! How sessions are written out: fixed-width table rows (so a table can be streamed
//! without knowing every row first) and JSON objects.

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use hallpass::SessionSummary;
use hallpass::time::Timestamp;
use serde_json::{Value, json};

/// The last millisecond RFC 3339 can write (9999-12-31T23:59:59.999Z).
const LAST_RFC3339_MILLIS: u64 = 253_402_300_799_999;

/// `at` as a system time, clamped to what RFC 3339 can write: a store may hold a
/// deadline past the year 9999 (written by another program, or corrupt), and
/// formatting it must not panic.
fn system_time(at: Timestamp) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_millis(at.as_unix_millis().min(LAST_RFC3339_MILLIS))
}

/// RFC 3339 in UTC with milliseconds (JSON).
pub(crate) fn rfc3339(at: Timestamp) -> String {
    humantime::format_rfc3339_millis(system_time(at)).to_string()
}

/// `2026-12-01 19:23:05` (tables; UTC).
pub(crate) fn short_time(at: Timestamp) -> String {
    let text = humantime::format_rfc3339_seconds(system_time(at)).to_string();
    text.replace('T', " ").trim_end_matches('Z').to_owned()
}

/// `text` with every control character written as an escape (`\u{1b}`), so a
/// hostile principal or User-Agent cannot move the terminal's cursor, rewrite a
/// line or forge one.
pub(crate) fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` [cleaned](clean) and cut to `width` characters, with `…` when cut.
pub(crate) fn cell(text: &str, width: usize) -> String {
    let clean = clean(text);
    if clean.chars().count() <= width {
        return clean;
    }
    let mut cut: String = clean.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// One session as JSON (the `sessions list` element).
pub(crate) fn session_json(session: &SessionSummary) -> Value {
    json!({
        "handle": session.handle,
        "user": session.principal,
        "created_at": rfc3339(session.created_at),
        "last_seen_at": rfc3339(session.last_seen_at),
        "idle_expires_at": rfc3339(session.idle_deadline),
        "absolute_expires_at": rfc3339(session.absolute_deadline),
        "ip": session.client.ip().map(|ip| ip.to_string()),
        "user_agent": session.client.user_agent(),
        "authenticated_at": session.authenticated.as_ref().map(|done| rfc3339(done.at)),
        "auth_level": session.authenticated.as_ref().and_then(|done| done.how.level.clone()),
        "auth_methods": session.authenticated.as_ref().map(|done| done.how.methods.clone()),
        "device_bound_at": session.device_bound_at.map(rfc3339),
    })
}

const HEADER: [(&str, usize); 8] = [
    ("HANDLE", 22),
    ("USER", 16),
    ("CREATED (UTC)", 19),
    ("LAST SEEN", 19),
    ("IDLE EXPIRES", 19),
    ("ABSOLUTE EXPIRES", 19),
    ("IP", 15),
    ("USER AGENT", 0),
];

/// The table's header line.
pub(crate) fn write_header(out: &mut impl Write) -> std::io::Result<()> {
    let cells: Vec<String> = HEADER.iter().map(|(name, _)| (*name).to_owned()).collect();
    write_cells(out, &cells)
}

fn write_cells(out: &mut impl Write, cells: &[String]) -> std::io::Result<()> {
    let mut line = String::new();
    for (index, (text, (_, width))) in cells.iter().zip(HEADER).enumerate() {
        if index > 0 {
            line.push_str("  ");
        }
        if width == 0 {
            line.push_str(text);
        } else {
            line.push_str(&format!("{text:<width$}"));
        }
    }
    writeln!(out, "{}", line.trim_end())
}

/// One table row.
pub(crate) fn write_row(out: &mut impl Write, session: &SessionSummary) -> std::io::Result<()> {
    let ip = session
        .client
        .ip()
        .map_or_else(|| "-".to_owned(), |ip| ip.to_string());
    let cells = [
        session.handle.to_string(),
        cell(session.principal.as_deref().unwrap_or("-"), 16),
        short_time(session.created_at),
        short_time(session.last_seen_at),
        short_time(session.idle_deadline),
        short_time(session.absolute_deadline),
        ip,
        cell(session.client.user_agent().unwrap_or("-"), 60),
    ];
    write_cells(out, &cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_cut_and_cleaned() {
        assert_eq!(cell("short", 10), "short");
        assert_eq!(cell("a long user agent", 6), "a lon…");
        assert_eq!(cell("evil\u{1b}[2J", 20), "evil\\u{1b}[2J");
        assert_eq!(
            clean("alice\r\nrevoked everything"),
            "alice\\u{d}\\u{a}revoked everything"
        );
    }

    #[test]
    fn far_future_times_are_clamped_not_a_panic() {
        let far = Timestamp::from_unix_millis(u64::MAX);
        assert_eq!(rfc3339(far), "9999-12-31T23:59:59.999Z");
        assert_eq!(short_time(far), "9999-12-31 23:59:59");
    }

    #[test]
    fn times_read_as_utc() {
        let t = Timestamp::from_unix_millis(1_764_616_985_123);
        assert_eq!(rfc3339(t), "2025-12-01T19:23:05.123Z");
        assert_eq!(short_time(t), "2025-12-01 19:23:05");
    }
}
