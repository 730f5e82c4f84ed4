//! `benchtop`: run experiments and read the run store from a terminal (or CI, or a script).
//! Every command is a thin face over the library crates.

mod commands;
mod print;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;

use benchtop_core::{Better, ChartKind, ChartSpec};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "benchtop", version, about = "A local-first lab for machine-learning studies")]
struct Cli {
    /// The run store's folder [default: $BENCHTOP_STORE, else the platform's data dir]
    #[arg(long, global = true, value_name = "DIR")]
    store: Option<PathBuf>,
    /// Talk to a store's holder listening on TCP (`benchtop serve --listen`) at HOST:PORT, with
    /// its token in $BENCHTOP_TOKEN. Without it, a store held by another process on this
    /// machine (the app, `benchtop serve`) is reached through its socket by itself.
    #[arg(long, global = true, value_name = "HOST:PORT", env = "BENCHTOP_HOLDER")]
    holder: Option<String>,
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
        /// Where the runs train, instead of the files' `executor`: here, or as one Slurm job
        /// array (the files' `[slurm]` options apply).
        #[arg(long, value_enum)]
        executor: Option<ExecutorArg>,
        /// On Slurm, where this process listens for its workers while the launch runs
        /// [default: 0.0.0.0:0, reached at this host's name].
        #[arg(long, value_name = "HOST:PORT")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Train one run for its store's holder and send it everything (what a Slurm array task
    /// runs): over TCP (`--holder` names the holder and $BENCHTOP_TOKEN holds its token), or
    /// as files in the launch's inbox on the shared file system (`--inbox DIR`).
    Worker {
        /// The run's id.
        run: String,
        /// The cache of shared stages (the holder's, on a shared file system).
        #[arg(long)]
        cache: PathBuf,
        /// The launch's inbox, instead of a holder reached over TCP.
        #[arg(long, value_name = "DIR")]
        inbox: Option<PathBuf>,
    },
    /// Hold a store and serve it to other processes (the CLI beside it, Slurm workers) until
    /// Ctrl-C: on a Unix socket in the store's folder (owner-only), and on TCP with a token
    /// when asked; runs launched through it train here.
    Serve {
        /// Also listen on TCP at HOST:PORT (clients need the token: $BENCHTOP_TOKEN, else a
        /// fresh one written to `serve-token` in the store's folder).
        #[arg(long, value_name = "HOST:PORT")]
        listen: Option<std::net::SocketAddr>,
        /// Runs at a time [default: the number of cores].
        #[arg(long, short)]
        jobs: Option<usize>,
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
        /// One row per group of runs with n and mean ± 95% CI of each metric: by these fields
        /// (comma-separated, e.g. method,lr), or with no value by every swept parameter but
        /// the seed.
        #[arg(long, value_name = "FIELDS", num_args = 0..=1, default_missing_value = "")]
        group_by: Option<String>,
        /// Keep only the runs matching a query, e.g. 'lr < 0.01 AND method IN (erm, irm)' (the
        /// README's "Queries" says the fields, operators and logic).
        #[arg(long = "where", value_name = "QUERY")]
        where_: Option<String>,
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
    /// Run again runs that ended without a result (interrupted, failed, cancelled): the named
    /// ones, or every such run of an experiment. Each goes on from its last checkpoint where
    /// its study saved one, else from the beginning.
    Resume {
        /// Run ids (or unique prefixes).
        #[arg(required_unless_present = "experiment", conflicts_with = "experiment")]
        runs: Vec<String>,
        #[arg(long)]
        experiment: Option<String>,
        /// Runs at a time [default: the number of cores].
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Compare runs field by field: the parameters, summary and provenance that differ
    /// (`--all`: every field).
    Diff {
        /// Two or more run ids (or unique prefixes).
        #[arg(num_args = 2.., required = true)]
        runs: Vec<String>,
        #[arg(long)]
        all: bool,
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
        /// Keep only the runs matching a query, e.g. 'lr < 0.01 AND method IN (erm, irm)' (the
        /// README's "Queries" says the fields, operators and logic).
        #[arg(long = "where", value_name = "QUERY")]
        where_: Option<String>,
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
        /// The file to write [default: standard output; Parquet needs a file].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a report: .html (self-contained), .md (with SVG figures beside it) or .tex.
    Report {
        /// Report on every run of this experiment.
        #[arg(long, conflicts_with = "runs")]
        experiment: Option<String>,
        /// Or on these runs (ids or unique prefixes).
        runs: Vec<String>,
        /// Keep only the runs matching a query, e.g. 'lr < 0.01 AND method IN (erm, irm)' (the
        /// README's "Queries" says the fields, operators and logic).
        #[arg(long = "where", value_name = "QUERY")]
        where_: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Draw one comparison chart of an experiment's runs as SVG or PNG, or write its numbers as CSV or pgfplots.
    Compare {
        #[arg(long)]
        experiment: String,
        /// The metric: a summary metric, or a series name for `--kind curves`.
        #[arg(long)]
        y: String,
        /// A parameter (metric-vs-param) or a summary metric (scatter).
        #[arg(long)]
        x: Option<String>,
        /// The parameter that gets a colour per value [default: method].
        #[arg(long)]
        group: Option<String>,
        #[arg(long, value_enum, default_value = "metric-vs-param")]
        kind: Kind,
        /// Keep only runs with this parameter value (repeatable), e.g. --filter n_envs=6.
        #[arg(long = "filter", value_name = "KEY=VALUE")]
        filters: Vec<String>,
        /// Keep only the runs matching a query, e.g. 'lr < 0.01 AND method IN (erm, irm)' (the
        /// README's "Queries" says the fields, operators and logic).
        #[arg(long = "where", value_name = "QUERY")]
        where_: Option<String>,

        /// Scatter: which way is better on both axes (draws the Pareto front).
        #[arg(long, value_enum)]
        better: Option<BetterArg>,
        /// chart.svg, chart.png, or or the numbers it draws: chart.csv (a table) or chart.tex (a pgfplots picture)
        #[arg(long)]
        out: PathBuf,
        /// PNG resolution.
        #[arg(long, default_value_t = 192)]
        dpi: u32,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ExecutorArg {
    Local,
    Slurm,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    Csv,
    Json,
    Parquet,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Curves,
    MetricVsParam,
    Bars,
    Scatter,
    Parallel,
    /// How much the metric depends on each varying parameter (permutation importance on a
    /// random forest).
    Importance,
}

#[derive(Clone, Copy, ValueEnum)]
enum BetterArg {
    Higher,
    Lower,
}

/// mimalloc instead of glibc's malloc: burn allocates a fresh buffer for every op's output and
/// glibc hands large ones back to the kernel each time, so every training step paid page
/// faults; the throughput benchmark trained about 11% faster with it (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before any thread starts (mimalloc's options are not thread-safe to set): `serve` stays
    // open and gives memory back once idle; every other command trains or reads and exits.
    use benchtop_studies::ml::memory::{FreedMemory, hold_freed_memory};
    hold_freed_memory(match cli.command {
        Command::Serve { .. } => FreedMemory::ReturnedAfter(std::time::Duration::from_secs(10)),
        _ => FreedMemory::Kept,
    });
    let store = &commands::At { dir: cli.store, holder: cli.holder };
    let result = match cli.command {
        Command::Serve { listen, jobs } => commands::serve(store, listen, jobs),
        Command::Run { files, jobs, sets, executor, listen } => {
            let executor = executor.map(|e| match e {
                ExecutorArg::Local => benchtop_core::Executor::Local,
                ExecutorArg::Slurm => benchtop_core::Executor::Slurm,
            });
            commands::run(store, &files, jobs, &sets, executor, listen)
        }
        Command::Worker { run, cache, inbox } => worker::worker(store.holder.as_deref(), inbox.as_deref(), &run, &cache),
        Command::Studies { name, json } => commands::studies(name.as_deref(), json),
        Command::Runs { experiment, status, group_by, where_, json } => {
            commands::runs(store, experiment, status.as_deref(), where_.as_deref(), group_by.as_deref(), json)
        }
        Command::Show { run, json } => commands::show(store, &run, json),
        Command::Resume { runs, experiment, jobs } => commands::resume(store, &runs, experiment.as_deref(), jobs),
        Command::Diff { runs, all } => commands::diff(store, &runs, all),
        Command::Delete { run, experiment } => commands::delete(store, run.as_deref(), experiment.as_deref()),
        Command::Export { experiment, where_, format, out } => {
            let format = match format {
                ExportFormat::Csv => commands::Table::Csv,
                ExportFormat::Json => commands::Table::Json,
                ExportFormat::Parquet => commands::Table::Parquet,
            };
            commands::export(store, experiment, where_.as_deref(), format, out.as_deref())
        }
        Command::Report { experiment, runs, where_, out } => commands::report(store, experiment.as_deref(), &runs, where_.as_deref(), &out),
        Command::Compare { experiment, y, x, group, kind, filters, where_, better, out, dpi } => {
            let kind = match kind {
                Kind::Curves => ChartKind::Curves,
                Kind::MetricVsParam => ChartKind::MetricVsParam,
                Kind::Bars => ChartKind::Bars,
                Kind::Scatter => ChartKind::Scatter,
                Kind::Parallel => ChartKind::Parallel,
                Kind::Importance => ChartKind::Importance,
            };
            let mut spec = ChartSpec::new(kind, &y);
            spec.x = x;
            spec.group = group;
            spec.better = better.map(|b| match b {
                BetterArg::Higher => Better::Higher,
                BetterArg::Lower => Better::Lower,
            });
            commands::compare(store, &experiment, spec, &filters, where_.as_deref(), &out, dpi)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, leaving out a cause whose text the message
/// before it already ends with (our error types name their source in their own text).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.ends_with(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}
