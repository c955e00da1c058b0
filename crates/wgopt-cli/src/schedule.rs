//! `wgopt schedule refine run.csv -o schedule.json`: a learning-rate schedule refined from a
//! first run's gradient norms (Defazio et al.; `wgopt::reference::refine`). The CSV holds one
//! row per step: either a single column of norms, or a header naming a `--column` (default
//! `grad_norm`, as `gpt_toy --record-norms` writes). The output is the JSON that
//! `--schedule refined:schedule.json[:STEPS]` reads anywhere a schedule is taken.

use crate::arrays::read_file;
use crate::checks::write_output;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use wgopt::reference::refine::{refine, NormKind};
use wgopt::reference::schedule::RefinedFile;

#[derive(clap::Subcommand)]
pub enum ScheduleCommand {
    /// Refines a schedule from a recorded run's per-step gradient norms.
    Refine(RefineArgs),
}

#[derive(clap::Args)]
pub struct RefineArgs {
    /// CSV of per-step gradient norms (a single column, or a header with --column).
    input: PathBuf,
    /// `l2` (SGD-like methods: weights Ĝ⁻²) or `l1` (Adam-like: weights Ĝ⁻¹).
    #[arg(long, default_value = "l2")]
    norm: String,
    /// Median-filter width as a fraction of the run (the paper's τ).
    #[arg(long, default_value_t = 0.1)]
    tau: f64,
    /// Column holding the norms when the CSV has a header.
    #[arg(long, default_value = "grad_norm")]
    column: String,
    /// Output JSON file.
    #[arg(long, short)]
    output: PathBuf,
}

pub fn run(cmd: ScheduleCommand) -> Result<()> {
    match cmd {
        ScheduleCommand::Refine(a) => refine_command(a),
    }
}

/// The norms column of a CSV (rows in step order; blank lines ignored).
pub fn read_norms(path: &Path, column: &str) -> Result<Vec<f64>> {
    let text = String::from_utf8(read_file(path)?)
        .with_context(|| format!("{} is not UTF-8 text", path.display()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty()).peekable();
    let first = lines.peek().copied().unwrap_or("");
    let header: Vec<&str> = first.split(',').map(str::trim).collect();
    let index = if header.iter().all(|f| f.parse::<f64>().is_ok()) {
        if header.len() != 1 {
            bail!(
                "{}: without a header the CSV must have one column, found {}",
                path.display(),
                header.len()
            );
        }
        0
    } else {
        lines.next();
        header.iter().position(|h| *h == column).with_context(|| {
            format!(
                "{}: no column {column:?} in the header {header:?}",
                path.display()
            )
        })?
    };
    lines
        .enumerate()
        .map(|(i, l)| {
            let field = l.split(',').nth(index).map(str::trim).unwrap_or("");
            field.parse::<f64>().with_context(|| {
                format!(
                    "{}: row {} has {field:?} where a norm belongs",
                    path.display(),
                    i + 1
                )
            })
        })
        .collect()
}

fn refine_command(a: RefineArgs) -> Result<()> {
    let kind = match a.norm.as_str() {
        "l2" => NormKind::L2,
        "l1" => NormKind::L1,
        other => bail!("--norm must be l2 or l1, got {other:?}"),
    };
    if !(0.0..=1.0).contains(&a.tau) {
        bail!("--tau must be in [0, 1], got {}", a.tau);
    }
    wgopt::scheduler::files::output_target(&a.output)?;
    let norms = read_norms(&a.input, &a.column)?;
    let multipliers = refine(&norms, kind, a.tau).with_context(|| a.input.display().to_string())?;
    let quarter = |q: usize| multipliers[(multipliers.len() - 1) * q / 4];
    println!(
        "{} steps ({:?} norms, τ = {}): multiplier at 0, ¼, ½, ¾, end = {:.3}, {:.3}, {:.3}, {:.3}, {:.3}",
        multipliers.len(),
        kind,
        a.tau,
        quarter(0),
        quarter(1),
        quarter(2),
        quarter(3),
        quarter(4)
    );
    let file = RefinedFile {
        norm: kind,
        tau: a.tau,
        multipliers,
    };
    write_output(&a.output, serde_json::to_string_pretty(&file)?.as_bytes())
}
