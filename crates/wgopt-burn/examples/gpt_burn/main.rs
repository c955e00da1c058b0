//! A character-level GPT written with burn's modules, trained on Shakespeare entirely on the
//! GPU — forward, backward and the update — with any wgopt optimizer or burn's own, on one
//! wgpu device. Races several on the same seed, batches and schedule.
//!
//! - `cargo run --release -p wgopt-burn --example gpt_burn` — Muon + AdamW, 200 steps
//! - `cargo run --release -p wgopt-burn --example gpt_burn -- --optimizer adamw`
//! - `cargo run --release -p wgopt-burn --example gpt_burn -- --burn-optimizer adamw`
//! - `cargo run --release -p wgopt-burn --example gpt_burn -- --compare adamw,burn:adamw,muon+adamw,burn:muon`
//!   writes `<out>/compare.png` (validation loss vs steps and vs wall time), `<out>/compare.md`
//!   (final loss, steps to target, time per step split into forward+backward, optimizer and
//!   the rest) and one CSV per run.
//! - `mpirun -np 2 target/release/examples/gpt_burn --distributed` — data parallel over MPI.

mod distributed;
mod model;
mod train;

use anyhow::{bail, Result};
use clap::Parser;
use model::GptShape;
use std::io::Write;
use std::path::PathBuf;
use toygpt::report::{final_loss, plot_validation, steps_to, Curve};
use toygpt::Corpus;
use train::{Runner, Settings, StepTimes};
use wgopt_burn::SharedDevice;

#[derive(Parser, Debug, Clone)]
#[command(about = "Train a burn GPT whose optimizer is wgopt's (or burn's), all on the GPU")]
struct Args {
    #[arg(long, default_value = "data/shakespeare.txt")]
    data: PathBuf,
    /// A wgopt optimizer (any name of its table).
    #[arg(long, default_value = "muon+adamw")]
    optimizer: String,
    /// Run burn's own optimizer instead (adamw, muon, sgd).
    #[arg(long)]
    burn_optimizer: Option<String>,
    /// Comma-separated runs to race: wgopt names and `burn:NAME`.
    #[arg(long, value_delimiter = ',')]
    compare: Vec<String>,
    #[arg(long, default_value_t = 200)]
    steps: u64,
    #[arg(long, default_value_t = 16)]
    batch: usize,
    #[arg(long, default_value_t = 64)]
    context: usize,
    #[arg(long, default_value_t = 2)]
    layers: usize,
    #[arg(long, default_value_t = 4)]
    heads: usize,
    #[arg(long, default_value_t = 64)]
    width: usize,
    /// The AdamW baseline's learning rate (wgopt's recommended values follow it).
    #[arg(long, default_value_t = 1e-2)]
    adamw_lr: f64,
    #[arg(long, default_value_t = 1337)]
    seed: u64,
    #[arg(long, default_value_t = 25)]
    eval_every: u64,
    #[arg(long, default_value_t = 4)]
    eval_batches: usize,
    /// Validation loss whose first crossing the comparison reports.
    #[arg(long, default_value_t = 2.5)]
    target_loss: f32,
    #[arg(long, default_value = "target/gpt_burn")]
    out: PathBuf,
    /// Data parallel over MPI: run under `mpirun -np N`; each rank trains on batch/N rows of
    /// every batch with `--optimizer`, its state sharded (wgopt-dist).
    #[arg(long)]
    distributed: bool,
}

/// What a finished run reports.
struct RunResult {
    name: String,
    hparams: String,
    curve: Curve,
    times: StepTimes,
    steps: u64,
    copied_per_step: u64,
}

fn run(
    args: &Args,
    shared: &SharedDevice,
    corpus: &Corpus,
    settings: &Settings,
    entry: &str,
) -> Result<RunResult> {
    let mut runner = Runner::new(shared, entry, settings).map_err(|e| anyhow::anyhow!("{e}"))?;
    let csv_path = args.out.join(format!("{}.csv", entry.replace(':', "_")));
    let mut csv = std::io::BufWriter::new(std::fs::File::create(&csv_path)?);
    writeln!(
        csv,
        "step,train_loss,val_loss,elapsed_s,forward_backward_s,optimizer_s,curvature_s,other_s"
    )?;
    let bar = toygpt::report::progress_bar(entry, args.steps);
    let eval = |r: &Runner| {
        r.evaluate(corpus, args.eval_batches)
            .map_err(|e| anyhow::anyhow!("{e}"))
    };
    let mut last_val = eval(&runner)?;
    let mut curve: Curve = vec![(0, 0.0, last_val)];
    let (mut times, mut elapsed) = (StepTimes::default(), 0.0);
    for step in 0..args.steps {
        let (loss, t) = runner
            .step(corpus, step)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        times.add(&t);
        elapsed += t.total();
        let done = step + 1;
        let val = (done % args.eval_every == 0 || done == args.steps)
            .then(|| eval(&runner))
            .transpose()?;
        if let Some(v) = val {
            last_val = v;
            curve.push((done, elapsed, v));
        }
        let v = val.map_or(String::new(), |v| v.to_string());
        let (fb, op, cu, ot) = (t.forward_backward, t.optimizer, t.curvature, t.other);
        writeln!(
            csv,
            "{done},{loss},{v},{elapsed:.4},{fb:.5},{op:.5},{cu:.5},{ot:.5}"
        )?;
        bar.set_message(format!("loss {loss:.3} val {last_val:.3}"));
        bar.set_position(done);
        if !loss.is_finite() {
            bar.abandon_with_message(format!("loss diverged at step {done}"));
            break;
        }
    }
    bar.finish();
    let copied_per_step = match &runner.optim {
        train::Optim::Wgopt(o) => o.last_copies().total(),
        train::Optim::Burn(..) => 0,
    };
    let steps = args.steps - 1;
    let per = |x: f64| 1e3 * x / steps.max(1) as f64;
    println!(
        "{entry}: val loss {last_val:.4} after {} steps; {:.1} ms/step (steps 2..) (forward+backward {:.1}, optimizer {:.1}, other {:.1}); wrote {}",
        args.steps,
        per(times.total()), per(times.forward_backward), per(times.optimizer), per(times.other), csv_path.display()
    );
    Ok(RunResult {
        name: entry.into(),
        hparams: runner.hparams.clone(),
        curve,
        times,
        steps,
        copied_per_step,
    })
}

fn table(runs: &[RunResult], target: f32) -> String {
    let mut s = String::from(
        "| run | final val loss | steps to val ≤ target | ms/step | forward+backward | optimizer | curvature | other | GPU bytes copied per step |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        let ms = |x: f64| format!("{:.1}", 1e3 * x / r.steps.max(1) as f64);
        let t = &r.times;
        let copied = match r.name.starts_with("burn:") {
            true => "— (in place)".to_string(),
            false => r.copied_per_step.to_string(),
        };
        let cells = [
            r.name.clone(),
            format!("{:.4}", final_loss(&r.curve)),
            steps_to(&r.curve, target),
            ms(t.total()),
            ms(t.forward_backward),
            ms(t.optimizer),
            ms(t.curvature),
            ms(t.other),
            copied,
        ];
        s += &format!("| {} |\n", cells.join(" | "));
    }
    s
}

/// The race's shared settings, with the arguments checked.
fn settings_of(args: &Args, corpus: &Corpus) -> Result<Settings> {
    if args.eval_every == 0 || args.steps == 0 || args.batch == 0 || args.context == 0 {
        bail!("--steps, --eval-every, --batch and --context must be at least 1");
    }
    if args.heads == 0 || !args.width.is_multiple_of(args.heads) {
        bail!(
            "--width {} is not a multiple of --heads {}",
            args.width,
            args.heads
        );
    }
    Ok(Settings {
        shape: GptShape {
            vocab: corpus.vocab(),
            context: args.context,
            layers: args.layers,
            heads: args.heads,
            width: args.width,
        },
        batch: args.batch,
        seed: args.seed,
        steps: args.steps,
        adamw_lr: args.adamw_lr,
    })
}

/// The plot, the markdown table; fails when a run's validation loss did not fall.
fn report(args: &Args, adapter: &str, runs: &[RunResult]) -> Result<()> {
    let title = format!(
        "burn GPT ({} layers, width {}, {} heads, context {}), batch {}, seed {}, all on the GPU",
        args.layers, args.width, args.heads, args.context, args.batch, args.seed
    );
    let curves: Vec<(&str, &Curve)> = runs.iter().map(|r| (r.name.as_str(), &r.curve)).collect();
    let png = match runs {
        [one] => format!("{}.png", one.name.replace(':', "_")),
        _ => "compare.png".to_string(),
    };
    let png = args.out.join(png);
    match plot_validation(&png, &curves, &title)? {
        Some(note) => println!("{note}"),
        None => println!("wrote {}", png.display()),
    }
    let mut md = format!(
        "# {title}\n\nAdapter: {adapter}\n\n{}",
        table(runs, args.target_loss)
    );
    md += &format!(
        "\nTarget validation loss {}. Hyperparameters:\n\n",
        args.target_loss
    );
    for r in runs {
        md += &format!("- **{}**: {}\n", r.name, r.hparams);
    }
    let path = args.out.join("compare.md");
    std::fs::write(&path, &md)?;
    println!("\n{md}\nwrote {}", path.display());
    for r in runs {
        let (first, last) = (
            r.curve.first().map_or(f32::NAN, |c| c.2),
            final_loss(&r.curve),
        );
        if last.is_nan() || last >= first {
            bail!(
                "{}: validation loss did not fall ({first:.4} → {last:.4})",
                r.name
            );
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let mut args = Args::parse();
    let corpus = Corpus::load(&args.data, 0.1)?;
    let settings = settings_of(&args, &corpus)?;
    std::fs::create_dir_all(&args.out)?;
    if args.distributed {
        return distributed::run(&args, &corpus, &settings);
    }
    let shared = SharedDevice::init()?;
    let adapter = shared.engine().adapter().to_string();
    println!(
        "burn GPT on {} | {adapter} | {} symbols",
        args.data.display(),
        corpus.vocab()
    );
    if args.compare.is_empty() {
        args.compare = vec![match &args.burn_optimizer {
            Some(b) => format!("burn:{b}"),
            None => args.optimizer.clone(),
        }];
    }
    let mut runs = Vec::new();
    for entry in &args.compare {
        runs.push(run(&args, &shared, &corpus, &settings, entry)?);
    }
    report(&args, &adapter, &runs)
}
