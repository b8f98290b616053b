//! `hallpass purge`: delete expired sessions in bounded batches.

use std::cell::Cell;
use std::io::{IsTerminal as _, Write};
use std::time::{Duration, Instant};

use hallpass::store::SessionStore;
use hallpass::time::SystemClock;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::PurgeArgs;
use crate::error::CliError;

/// A spinner with the running count on a terminal; nothing otherwise.
pub(crate) fn spinner(message: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}: {pos} ({per_sec}, {elapsed})")
    {
        bar.set_style(style);
    }
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

pub(crate) async fn purge(
    store: &dyn SessionStore,
    args: &PurgeArgs,
    mut out: impl Write,
) -> Result<(), CliError> {
    let started = Instant::now();
    let bar = spinner("deleting expired sessions");
    let batches = Cell::new(0u64);
    let total = Cell::new(0u64);
    let batch = usize::try_from(args.batch).unwrap_or(1000);
    let work = hallpass::store::purge_expired(store, &SystemClock, batch, |running| {
        let deleted = running - total.get();
        batches.set(batches.get() + 1);
        total.set(running);
        bar.set_position(running);
        if args.log_batches {
            bar.suspend(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "batch {}: {deleted} deleted, {running} in all",
                    batches.get()
                );
            });
        }
    });
    let outcome = tokio::select! {
        outcome = work => outcome,
        _ = tokio::signal::ctrl_c() => {
            bar.finish_and_clear();
            // Each batch is atomic in the store: what was deleted stays deleted.
            return Err(CliError::Interrupted(format!(
                "interrupted: {} expired sessions deleted so far; run `hallpass purge` again to finish",
                total.get()
            )));
        }
    };
    bar.finish_and_clear();
    let purged = outcome.map_err(|err| {
        let _ = writeln!(
            std::io::stderr(),
            "hallpass: {} expired sessions were deleted before the error; run again to finish",
            total.get()
        );
        CliError::Store(err)
    })?;
    writeln!(
        out,
        "purged {purged} expired session{} in {} batch{} of at most {batch} ({:.1} s)",
        if purged == 1 { "" } else { "s" },
        batches.get(),
        if batches.get() == 1 { "" } else { "es" },
        started.elapsed().as_secs_f64()
    )?;
    Ok(())
}
