//! `hallpass`: operate sessions in any hallpass store. See `hallpass --help`.

mod cli;
mod error;
mod format;
mod keys;
mod purge;
mod sessions;
mod stats;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory as _, Parser as _};
use hallpass::store::SessionStore;

use crate::cli::{Cli, Command, Keys, Sessions};
use crate::error::CliError;

async fn open(cli: &Cli) -> Result<Arc<dyn SessionStore>, CliError> {
    let Some(url) = cli.store.as_deref() else {
        return Err(CliError::Usage(
            "this command needs a store: give --store URL or set HALLPASS_STORE".to_owned(),
        ));
    };
    hallpass_stores::open_in(url, &cli.namespace)
        .await
        .map_err(|source| CliError::Open {
            url: hallpass_stores::redact(url),
            source,
        })
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let out = std::io::stdout().lock();
    match &cli.command {
        Command::Keys(Keys::Generate) => keys::generate(out),
        Command::Keys(Keys::Rotate { keys_file }) => keys::rotate(keys_file, out),
        Command::Completions { shell } => {
            let mut out = out;
            clap_complete::generate(*shell, &mut Cli::command(), "hallpass", &mut out);
            Ok(())
        }
        Command::Sessions(sessions) => {
            let store = open(&cli).await?;
            match sessions {
                Sessions::List {
                    user,
                    limit,
                    format,
                } => {
                    sessions::list(
                        &*store,
                        user.as_deref(),
                        *limit,
                        format.format.resolve(),
                        out,
                    )
                    .await
                }
                Sessions::Show {
                    handle,
                    show_data,
                    format,
                } => {
                    sessions::show(&*store, handle, *show_data, format.format.resolve(), out).await
                }
                Sessions::Revoke {
                    handles,
                    user: Some(user),
                    except,
                } if handles.is_empty() => {
                    sessions::revoke_user(&*store, user, except.as_deref(), out).await
                }
                Sessions::Revoke { handles, .. } => {
                    sessions::revoke_handles(&*store, handles, out).await
                }
            }
        }
        Command::Purge(args) => purge::purge(&*open(&cli).await?, args, out).await,
        Command::Stats(args) => stats::stats(&*open(&cli).await?, args, out).await,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            let _ = writeln!(
                std::io::stderr(),
                "hallpass: cannot start the async runtime: {err}"
            );
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // `hallpass sessions list | head`: the reader left; that is not a failure.
        Err(CliError::Output(err)) if err.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "hallpass: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
