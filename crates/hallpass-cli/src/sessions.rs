//! `hallpass sessions list | show | revoke`.

use std::io::Write;
use std::ops::ControlFlow;

use hallpass::Handle;
use hallpass::cookie::VALUE_LEN;
use hallpass::store::SessionStore;
use hallpass::time::{Clock as _, SystemClock};
use serde_json::json;

use crate::cli::Format;
use crate::error::CliError;
use crate::format::{self, session_json, short_time};

/// Sessions fetched per store call while listing.
const PAGE: usize = 500;

/// A handle from the command line; a cookie value is refused (the CLI never takes
/// tokens, so it cannot be used to replay one).
pub(crate) fn parse_handle(text: &str) -> Result<Handle, CliError> {
    if text.len() == VALUE_LEN {
        return Err(CliError::Usage(
            "that looks like a session cookie value, not a handle: the CLI never takes tokens; \
             give the 22-character handle that `hallpass sessions list` shows"
                .to_owned(),
        ));
    }
    text.parse().map_err(|_| {
        CliError::Usage(format!(
            "{:?} is not a session handle (22 characters of base64url, as `hallpass sessions list` shows)",
            format::cell(text, 40)
        ))
    })
}

/// Streams rows as a table or a JSON array, one at a time.
struct Listing<W: Write> {
    out: W,
    format: Format,
    count: u64,
}

impl<W: Write> Listing<W> {
    fn start(mut out: W, format: Format) -> Result<Self, CliError> {
        match format {
            Format::Json => write!(out, "[")?,
            _ => format::write_header(&mut out)?,
        }
        Ok(Self {
            out,
            format,
            count: 0,
        })
    }

    fn row(&mut self, session: &hallpass::SessionSummary) -> Result<(), CliError> {
        match self.format {
            Format::Json => {
                let sep = if self.count == 0 { "" } else { "," };
                write!(self.out, "{sep}\n  {}", session_json(session))?;
            }
            _ => format::write_row(&mut self.out, session)?,
        }
        self.count += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<(), CliError> {
        match self.format {
            Format::Json if self.count == 0 => writeln!(self.out, "]")?,
            Format::Json => writeln!(self.out, "\n]")?,
            _ => writeln!(
                self.out,
                "({} session{})",
                self.count,
                if self.count == 1 { "" } else { "s" }
            )?,
        }
        self.out.flush()?;
        Ok(())
    }
}

pub(crate) async fn list(
    store: &dyn SessionStore,
    user: Option<&str>,
    limit: Option<u64>,
    format: Format,
    out: impl Write,
) -> Result<(), CliError> {
    let now = SystemClock.now();
    let mut listing = Listing::start(out, format)?;
    let full = |listing: &Listing<_>| limit.is_some_and(|limit| listing.count >= limit);
    if let Some(user) = user {
        for session in store.list_principal(user, now).await? {
            if full(&listing) {
                break;
            }
            listing.row(&session)?;
        }
        return listing.finish();
    }
    let page = limit.map_or(PAGE, |limit| {
        usize::try_from(limit).map_or(PAGE, |limit| limit.clamp(1, PAGE))
    });
    walk(store, page, now, |session| {
        if full(&listing) {
            return Ok(ControlFlow::Break(()));
        }
        listing.row(session)?;
        Ok(ControlFlow::Continue(()))
    })
    .await?;
    listing.finish()
}

/// Calls `visit` with every live session at `now`, `page` per store call, until it
/// breaks or fails: the one walk over the store that `sessions list` and `stats` share.
pub(crate) async fn walk(
    store: &dyn SessionStore,
    page: usize,
    now: hallpass::time::Timestamp,
    mut visit: impl FnMut(&hallpass::SessionSummary) -> Result<ControlFlow<()>, CliError>,
) -> Result<(), CliError> {
    let mut cursor: Option<String> = None;
    loop {
        let batch = store.list_sessions(cursor.as_deref(), page, now).await?;
        for session in &batch.sessions {
            if visit(session)?.is_break() {
                return Ok(());
            }
        }
        match batch.next {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}

pub(crate) async fn show(
    store: &dyn SessionStore,
    handle: &str,
    show_data: bool,
    format: Format,
    mut out: impl Write,
) -> Result<(), CliError> {
    let handle = parse_handle(handle)?;
    let Some((_, record)) = store.load_handle(&handle, SystemClock.now()).await? else {
        return Err(CliError::NotFound(format!(
            "no live session has handle {handle}"
        )));
    };
    let keys: Vec<&str> = record.data.keys().map(String::as_str).collect();
    if format == Format::Json {
        let mut value = session_json(&hallpass::SessionSummary::from(&record));
        value["remember"] = json!(record.remember);
        value["version"] = json!(record.version);
        value["data_keys"] = json!(keys);
        if show_data {
            value["data"] = json!(record.data);
        }
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        )?;
        return Ok(());
    }
    let line = |out: &mut dyn Write, name: &str, value: &str| writeln!(out, "{name:<18}{value}");
    line(&mut out, "handle:", &handle.to_string())?;
    line(
        &mut out,
        "user:",
        &record
            .principal
            .as_deref()
            .map_or_else(|| "(anonymous)".to_owned(), format::clean),
    )?;
    line(
        &mut out,
        "created:",
        &format!("{} UTC", short_time(record.created_at)),
    )?;
    line(
        &mut out,
        "last seen:",
        &format!("{} UTC", short_time(record.last_seen_at)),
    )?;
    line(
        &mut out,
        "idle expires:",
        &format!("{} UTC", short_time(record.idle_deadline)),
    )?;
    line(
        &mut out,
        "absolute expires:",
        &format!("{} UTC", short_time(record.absolute_deadline)),
    )?;
    line(
        &mut out,
        "remember me:",
        if record.remember { "yes" } else { "no" },
    )?;
    let ip = record
        .client
        .ip()
        .map_or_else(|| "-".to_owned(), |ip| ip.to_string());
    line(&mut out, "ip:", &ip)?;
    let agent = record
        .client
        .user_agent()
        .map_or_else(|| "-".to_owned(), |ua| format::cell(ua, 200));
    line(&mut out, "user agent:", &agent)?;
    line(
        &mut out,
        "data keys:",
        &if keys.is_empty() {
            "(none)".to_owned()
        } else {
            keys.iter()
                .map(|key| format::clean(key))
                .collect::<Vec<_>>()
                .join(", ")
        },
    )?;
    if show_data {
        writeln!(out, "data:")?;
        for (key, value) in &record.data {
            writeln!(out, "  {} = {}", format::cell(key, 60), value)?;
        }
    }
    Ok(())
}

pub(crate) async fn revoke_handles(
    store: &dyn SessionStore,
    handles: &[String],
    mut out: impl Write,
) -> Result<(), CliError> {
    // Every argument is checked before anything is revoked.
    let handles = handles
        .iter()
        .map(|h| parse_handle(h))
        .collect::<Result<Vec<_>, _>>()?;
    let now = SystemClock.now();
    let mut missing = Vec::new();
    for handle in &handles {
        let user = store
            .load_handle(handle, now)
            .await?
            .and_then(|(_, record)| record.principal);
        if store.revoke(handle).await? {
            let who = user.map_or_else(
                || "anonymous".to_owned(),
                |u| format!("user {}", format::clean(&u)),
            );
            writeln!(out, "revoked {handle} ({who})")?;
        } else {
            missing.push(handle.to_string());
        }
    }
    out.flush()?;
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CliError::NotFound(format!(
            "no live session with handle {}",
            missing.join(", ")
        )))
    }
}

pub(crate) async fn revoke_user(
    store: &dyn SessionStore,
    user: &str,
    except: Option<&str>,
    mut out: impl Write,
) -> Result<(), CliError> {
    let except = except.map(parse_handle).transpose()?;
    let before = store.list_principal(user, SystemClock.now()).await?;
    let revoked = store.revoke_principal(user, except.as_ref()).await?;
    let user = format::clean(user);
    for session in before.iter().filter(|s| Some(s.handle) != except) {
        writeln!(out, "revoked {} (user {user})", session.handle)?;
    }
    writeln!(
        out,
        "{revoked} session{} of {user} revoked{}",
        if revoked == 1 { "" } else { "s" },
        except.map_or_else(String::new, |h| format!(", {h} kept"))
    )?;
    out.flush()?;
    Ok(())
}
