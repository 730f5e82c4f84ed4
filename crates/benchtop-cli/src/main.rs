//! `benchtop`: run experiments and read the run store from a terminal (or CI, or a script).
//! Every command is a thin face over the library crates.

mod commands;
mod print;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "benchtop", version, about = "A local-first lab for machine-learning studies")]
struct Cli {
    /// The run store's folder [default: $BENCHTOP_STORE, else the platform's data dir]
    #[arg(long, global = true, value_name = "DIR")]
    store: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one or more experiment files and print a summary per sweep point.
    Run {
        /// Experiment files (TOML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Runs at a time [default: the number of cores].
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Fix a parameter, replacing its `[params]` value or sweep (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// List the studies, or describe one: methods and parameters with defaults.
    Studies {
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List runs.
    Runs {
        #[arg(long)]
        experiment: Option<String>,
        /// queued, running, done, failed, cancelled or interrupted.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one run: parameters, summary, series, logs, artifacts, provenance.
    Show {
        /// A run id (or a unique prefix of it).
        run: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a run, or every run of an experiment, with all their data.
    Delete {
        #[arg(required_unless_present = "experiment", conflicts_with = "experiment")]
        run: Option<String>,
        #[arg(long)]
        experiment: Option<String>,
    },
    /// Export runs as one row each: ids, status, `param.*` and `metric.*` columns.
    Export {
        #[arg(long)]
        experiment: Option<String>,
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
        /// The file to write [default: standard output].
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    Csv,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let store = cli.store.as_deref();
    let result = match cli.command {
        Command::Run { files, jobs, sets } => commands::run(store, &files, jobs, &sets),
        Command::Studies { name, json } => commands::studies(name.as_deref(), json),
        Command::Runs { experiment, status, json } => commands::runs(store, experiment, status.as_deref(), json),
        Command::Show { run, json } => commands::show(store, &run, json),
        Command::Delete { run, experiment } => commands::delete(store, run.as_deref(), experiment.as_deref()),
        Command::Export { experiment, format, out } => {
            commands::export(store, experiment, matches!(format, ExportFormat::Json), out.as_deref())
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
