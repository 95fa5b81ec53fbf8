//! `weaver runs replay <id>`: replays a stored run and compares its intents with the recorded
//! decisions ([`crate::runs::replay`]). It reads the database named by `WEAVER_DATABASE_URL` (and
//! the components under the data directory) directly, like `weaver migrate`, so it needs no
//! running server and works beside one; it writes nothing.
//!
//! # Invariants
//! - Exits 0 only when the replay is identical; a difference or a refusal exits non-zero with
//!   the reason (and the report on stdout for a difference).

use clap::{Args, Subcommand};

use crate::app::{App, Config};
use crate::runs::ReplayReport;
use crate::walle::Walle;

/// Arguments of `weaver runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: RunsCommand,
}

/// `weaver runs` subcommands.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Replay a run from the store and report whether its intents are bit-identical to the
    /// recorded ones (exit status 0 only if they are).
    Replay(ReplayArgs),
}

/// Arguments of `weaver runs replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The run's id.
    pub id: i64,
    /// Print the report as JSON (the body of `POST /runs/{id}/replay`).
    #[arg(long)]
    pub json: bool,
}

/// Runs `weaver runs …`.
///
/// # Errors
/// A configuration or store error, a refused replay (with its code), or a replay that differs.
pub(super) fn run(args: RunsArgs) -> anyhow::Result<()> {
    let RunsCommand::Replay(args) = args.command;
    let mut config = Config::from_env()?;
    // Components are loaded as `weaver serve` loads them (compiled in a child of this binary).
    config.compiler = std::env::current_exe().ok();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let walle = Walle::connect(&config.db).await?;
        // No venue: a replay reaches none.
        let app = App::with_desks(config, walle.clone(), Vec::new())?;
        let outcome = app.runs().replay(args.id, None).await;
        walle.close().await;
        let report = outcome.map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print_report(args.id, &report);
        }
        match &report.first_mismatch {
            None if report.identical => Ok(()),
            Some(m) => anyhow::bail!(
                "run {}: the replay differs from the recording at decision {}",
                args.id,
                m.index
            ),
            None => anyhow::bail!("run {}: the replay differs from the recording", args.id),
        }
    })
}

fn print_report(id: i64, r: &ReplayReport) {
    println!(
        "run {id}: {} ({} decisions compared; {} recorded, {} replayed)",
        if r.identical { "identical" } else { "differs" },
        r.decisions_compared,
        r.recorded,
        r.replayed
    );
    if let Some(m) = &r.first_mismatch {
        let ts = m.bar_ts.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339());
        let show = |i: &Option<Vec<crate::domain::Intent>>| match i {
            Some(i) => serde_json::to_string(i).unwrap_or_default(),
            None => "(no decision)".to_owned(),
        };
        println!("first difference: decision {} at {ts}", m.index);
        if let Some(t) = m.replayed_bar_ts {
            println!("  replayed at: {}", t.to_rfc3339());
        }
        println!("  recorded: {}", show(&m.recorded));
        println!("  replayed: {}", show(&m.replayed));
    }
}
