//! The `pista` binary: parses the command line, sets up logging and runs the chosen command.
//! Fatal errors are printed to stderr as one readable message and exit with status 1; an
//! import that read only part of its input exits with status 2 after its summary.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use pista::settings::{effective_toml, example_toml};
use pista::{cli, replay, serve::Server};
use pista_ingest::LogControl;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// mimalloc instead of the system allocator: under ingest load glibc's malloc took a sixth of
/// the server's CPU time (many small JSON values and SQL parameters per message, freed on other
/// threads).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Third-party crates that log more than an operator wants at `info`.
const QUIET: &str = "rmqtt=warn,rmqtt_net=warn,rmqtt_retainer=warn,rmqtt_codec=warn,sqlx=warn,\
                     sea_orm=warn,sea_orm_migration=warn";

fn main() -> ExitCode {
    pista::install_crypto_provider();
    let matches = cli::command().get_matches();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    let result = match matches.subcommand() {
        Some(("serve", args)) => runtime.block_on(serve(args)),
        Some(("config", args)) => config(args),
        Some(("replay", args)) => {
            init_logging("warn");
            runtime.block_on(replay::run_cli(args))
        }
        Some(("import", args)) => {
            init_logging("warn");
            return match runtime.block_on(import(args)) {
                Ok(code) => code,
                Err(error) => fail(&pista::error_text(&error)),
            };
        }
        Some(("load", args)) => {
            init_logging("warn");
            runtime.block_on(pista::load::run_cli(args))
        }
        Some(("monitor", args)) => {
            init_logging("warn");
            runtime.block_on(monitor(args))
        }
        Some((
            name @ ("secret" | "user" | "acl" | "group" | "share" | "token" | "ctrld" | "friend"
            | "card" | "quarantine" | "cmd" | "delete" | "retention" | "export" | "ocat"
            | "compact"),
            args,
        )) => {
            init_logging("warn");
            runtime.block_on(admin(name, args))
        }
        _ => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&pista::error_text(&error)),
    }
}

async fn admin(name: &str, args: &clap::ArgMatches) -> anyhow::Result<()> {
    let out = match name {
        "secret" => pista::admin::secret(args).await?,
        "friend" => pista::admin::friend(args).await?,
        "user" => pista::admin::account(args).await?,
        "acl" => pista::admin::acl(args).await?,
        "group" => pista::admin::group(args).await?,
        "share" => pista::admin::share(args).await?,
        "token" => pista::admin::token(args).await?,
        "ctrld" => pista::admin::ctrld(args).await?,
        "card" => pista::admin::card(args).await?,
        "quarantine" => pista::admin::quarantine(args).await?,
        "delete" => pista::retention::delete(args).await?,
        "export" => pista::export::export(args).await?,
        "ocat" => pista::ocat::ocat(args).await?,
        "retention" => pista::retention::retention(args).await?,
        "compact" => pista::retention::compact(args).await?,
        _ => pista::admin::cmd(args).await?,
    };
    print!("{out}");
    Ok(())
}

/// Prints the summary; the status is 2 when part of the input was not read (see the README).
async fn import(args: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    let summary = pista::import::run_cli(args).await?;
    print!("{summary}");
    Ok(if summary.incomplete { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

async fn monitor(args: &clap::ArgMatches) -> anyhow::Result<()> {
    let settings = cli::raw_settings(args)?.validate()?;
    let command = args.get_one::<String>("command").map_or("", String::as_str);
    let argument = args.get_one::<String>("argument").map_or("", String::as_str);
    println!("{}", pista::admin::monitor(&settings, command, argument).await?);
    Ok(())
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

/// Logs to stderr through `filter`; returns what changes the filter later (the monitor's
/// `loglevel`).
fn init_logging(filter: &str) -> LogControl {
    let filter =
        EnvFilter::try_new(format!("{QUIET},{filter}")).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let output = tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(std::io::stderr);
    tracing_subscriber::registry().with(filter).with(output).init();
    LogControl(std::sync::Arc::new(move |filter: &str| {
        let filter = EnvFilter::try_new(format!("{QUIET},{filter}")).map_err(|e| e.to_string())?;
        handle.reload(filter).map_err(|e| e.to_string())
    }))
}

async fn serve(args: &clap::ArgMatches) -> anyhow::Result<()> {
    let raw = cli::raw_settings(args)?;
    let mut settings = raw.validate()?;
    settings.log_control = Some(init_logging(&settings.log));
    for note in raw.recorder_unused() {
        tracing::warn!(%note, "a setting of the OwnTracks Recorder is not used");
    }
    let server = Server::start(&settings).await?;
    wait_for_signal().await;
    tracing::info!("shutting down");
    server.stop().await;
    Ok(())
}

fn config(args: &clap::ArgMatches) -> anyhow::Result<()> {
    if args.get_flag("example") {
        print!("{}", example_toml());
        return Ok(());
    }
    let raw = cli::raw_settings(args)?;
    raw.validate()?;
    print!("{}", effective_toml(&raw));
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
