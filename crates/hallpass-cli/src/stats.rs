//! `hallpass stats`: one streamed pass over the store.

use std::collections::HashMap;
use std::io::Write;
use std::ops::ControlFlow;
use std::time::Duration;

use hallpass::store::SessionStore;
use hallpass::time::{Clock as _, SystemClock};
use serde_json::json;

use crate::cli::{Format, StatsArgs};
use crate::error::CliError;
use crate::format::cell;

const PAGE: usize = 1000;

#[derive(Debug, Default)]
struct Totals {
    total: u64,
    authenticated: u64,
    expiring_soon: u64,
    per_user: HashMap<String, u64>,
}

pub(crate) async fn stats(
    store: &dyn SessionStore,
    args: &StatsArgs,
    mut out: impl Write,
) -> Result<(), CliError> {
    let now = SystemClock.now();
    let soon = now.saturating_add(Duration::from_secs(3600));
    let bar = crate::purge::spinner("reading sessions");
    let mut totals = Totals::default();
    crate::sessions::walk(store, PAGE, now, |session| {
        totals.total += 1;
        if session.idle_deadline.min(session.absolute_deadline) <= soon {
            totals.expiring_soon += 1;
        }
        if let Some(user) = &session.principal {
            totals.authenticated += 1;
            *totals.per_user.entry(user.to_string()).or_default() += 1;
        }
        bar.set_position(totals.total);
        Ok(ControlFlow::Continue(()))
    })
    .await?;
    bar.finish_and_clear();
    let mut top: Vec<(String, u64)> = totals.per_user.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let users = top.len();
    top.truncate(args.top);
    let anonymous = totals.total - totals.authenticated;
    if args.format.format.resolve() == Format::Json {
        let top: Vec<_> = top
            .iter()
            .map(|(user, n)| json!({"user": user, "sessions": n}))
            .collect();
        let value = json!({
            "total": totals.total,
            "authenticated": totals.authenticated,
            "anonymous": anonymous,
            "users": users,
            "expiring_within_an_hour": totals.expiring_soon,
            "top_users": top,
        });
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        )?;
        return Ok(());
    }
    writeln!(out, "sessions               {:>8}", totals.total)?;
    writeln!(
        out,
        "  authenticated        {:>8}  ({users} users)",
        totals.authenticated
    )?;
    writeln!(out, "  anonymous            {anonymous:>8}")?;
    writeln!(out, "expiring within 1 h    {:>8}", totals.expiring_soon)?;
    if !top.is_empty() {
        writeln!(out, "top users by sessions")?;
        for (user, n) in &top {
            writeln!(out, "  {:<20} {n:>8}", cell(user, 20))?;
        }
    }
    Ok(())
}
