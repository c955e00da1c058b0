//! Train a character-level GPT on Shakespeare with any wgopt optimizer, or race several.
//!
//! The model's forward and backward run on the CPU (crates/toygpt, llm.c-style Rust); the
//! parameters live on the GPU and every update is one fused wgopt submit. Sophia gets its
//! Gauss–Newton–Bartlett or Hutchinson estimate and AdaHessian its Hessian-vector products
//! from the training loop (toygpt::curvature).
//!
//! - `cargo xtask demo` — the default run: Muon + AdamW, 300 steps, a few minutes on lavapipe.
//! - `cargo run --release --example gpt_toy -- --optimizer sophia-g --steps 500`
//! - `cargo run --release --example gpt_toy -- --compare adamw,muon+adamw,root+adamw,sophia-g,lion`
//!   writes `<out>/compare.png` (validation loss vs steps and vs wall time) and
//!   `<out>/compare.md` (final loss, steps to target, time split per step).
//! - `--grad-noise 1.0` / `--label-noise 0.2` for the robustness variant (ROOT's claim).
//! - `--save DIR` / `--resume DIR` checkpoint model and optimizer state.
//! - `mpirun -np 2 target/release/examples/gpt_toy --distributed` — data parallel over MPI.

mod distributed;

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::io::Write;
use std::path::{Path, PathBuf};
use toygpt::optimizers::{self, DEFAULT_OPTIMIZER};
use toygpt::{Corpus, GptConfig, StepTimes, TrainConfig, Trainer};
use wgopt::Engine;

#[derive(Parser, Debug, Clone)]
#[command(about = "Train a toy GPT whose optimizer runs on the GPU through wgopt")]
struct Args {
    /// Training text (UTF-8; every distinct character is a token).
    #[arg(long, default_value = "data/shakespeare.txt")]
    data: PathBuf,
    /// Optimizer (`--list` shows all); the default is Muon on matrices + AdamW on the rest.
    #[arg(long, default_value = DEFAULT_OPTIMIZER)]
    optimizer: String,
    /// Hyperparameters as key=value (config field names; `adamw.` prefix for a hybrid's AdamW
    /// part). Without any, the comparison's recommended values are used.
    #[arg(long = "hp", value_parser = parse_kv)]
    hparams: Vec<(String, String)>,
    /// The AdamW baseline's learning rate, which the recommended values of Adam-like methods
    /// follow (1e-2: AdamW's best of 3e-3, 1e-2, 3e-2 on the default model at 400 steps; the
    /// per-optimizer sweep is in docs/gpt-toy.md).
    #[arg(long, default_value_t = 1e-2, value_parser = parse_lr)]
    adamw_lr: f64,
    /// Learning-rate schedule in wgopt's syntax (default: 10 % warmup, cosine to 0.1×).
    #[arg(long)]
    schedule: Option<String>,
    #[arg(long, default_value_t = 300)]
    steps: u64,
    /// Sequences per batch.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    #[arg(long, default_value_t = 1337)]
    seed: u64,
    #[arg(long, default_value_t = 64)]
    context: usize,
    #[arg(long, default_value_t = 2)]
    layers: usize,
    #[arg(long, default_value_t = 4)]
    heads: usize,
    #[arg(long, default_value_t = 64)]
    width: usize,
    /// Global gradient-norm clip (0: none; otherwise finite and > 0).
    #[arg(long, default_value_t = 1.0, value_parser = parse_clip)]
    grad_clip: f32,
    /// Gaussian gradient noise, in units of each tensor's gradient RMS.
    #[arg(long, default_value_t = 0.0)]
    grad_noise: f64,
    /// Probability of replacing a training target by a random symbol.
    #[arg(long, default_value_t = 0.0)]
    label_noise: f64,
    /// Validation every this many steps (≥ 1).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..))]
    eval_every: u64,
    #[arg(long, default_value_t = 4, value_parser = parse_positive)]
    eval_batches: usize,
    /// Comma-separated optimizers to race on the same seed, data and budget; `name@LR` sets
    /// that entry's AdamW-baseline learning rate (what a per-optimizer sweep picked), and
    /// `name:key=value:key=value@LR` hyperparameters of that entry alone.
    #[arg(long, value_delimiter = ',')]
    compare: Vec<String>,
    /// Validation loss whose first crossing the comparison reports.
    #[arg(long, default_value_t = 2.5)]
    target_loss: f32,
    /// Output folder (CSV, plots, tables).
    #[arg(long, default_value = "target/gpt_toy")]
    out: PathBuf,
    /// Save a checkpoint here at the end.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Continue from a checkpoint (its config wins; --steps is the new total).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Characters of sample text at the end.
    #[arg(long, default_value_t = 300)]
    sample: usize,
    /// List the optimizers and exit.
    #[arg(long)]
    list: bool,
    /// Data parallel over MPI: run under `mpirun -np N`; each rank trains on batch/N rows of
    /// every batch, the optimizer state sharded (wgopt-dist).
    #[arg(long)]
    distributed: bool,
}

fn parse_positive(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(format!("expected an integer >= 1, got {s:?}")),
    }
}

fn parse_clip(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "expected 0 (no clipping) or a finite number > 0, got {s:?}"
        )),
    }
}

fn parse_lr(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("expected a finite learning rate > 0, got {s:?}")),
    }
}

fn parse_kv(s: &str) -> std::result::Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| format!("expected key=value, got {s:?}"))
}

/// One run's curve: (step, elapsed optimizer-loop seconds, validation loss).
use toygpt::report::Curve;

struct RunResult {
    name: String,
    curve: Curve,
    times: StepTimes,
    steps: u64,
    tokens_per_s: f64,
    source: String,
    hparams: String,
}

/// One `--compare` entry: `name[:key=value…][@lr]`.
struct Entry<'a> {
    name: &'a str,
    /// The AdamW-baseline learning rate for this entry.
    adamw_lr: f64,
    /// Hyperparameters for this entry only (after the recommendation and the global `--hp`).
    hparams: Vec<(String, String)>,
}

/// `name`, `name@lr`, `name:key=value:key=value@lr` (e.g. `frugal:projection=svd@1e-2`).
fn split_entry(entry: &str, default_lr: f64) -> Result<Entry<'_>> {
    let (head, adamw_lr) = match entry.split_once('@') {
        None => (entry, default_lr),
        Some((head, lr)) => (
            head,
            parse_lr(lr).map_err(|e| anyhow::anyhow!("learning rate in {entry:?}: {e}"))?,
        ),
    };
    let mut parts = head.split(':');
    let name = parts.next().unwrap_or_default();
    let hparams = parts
        .map(|kv| parse_kv(kv).map_err(|e| anyhow::anyhow!("in {entry:?}: {e}")))
        .collect::<Result<Vec<_>>>()?;
    Ok(Entry {
        name,
        adamw_lr,
        hparams,
    })
}

fn train_config(args: &Args, entry: &str, vocab: usize) -> Result<(TrainConfig, String)> {
    let Entry {
        name,
        adamw_lr,
        hparams: own,
    } = split_entry(entry, args.adamw_lr)?;
    optimizers::check_name(name)?;
    let model = GptConfig {
        vocab,
        context: args.context,
        n_layer: args.layers,
        n_head: args.heads,
        n_embd: args.width,
    };
    let tokens = args.batch.saturating_mul(args.context);
    let (hparams, source) = if args.hparams.is_empty() || !args.compare.is_empty() {
        let (mut hp, src) = optimizers::recommended(name, adamw_lr, tokens);
        // Explicit --hp entries override the recommendation in comparisons too, and the
        // entry's own override both.
        for (k, v) in args.hparams.iter().chain(&own) {
            hp.retain(|(k2, _)| k2 != k);
            hp.push((k.clone(), v.clone()));
        }
        (hp, src.to_string())
    } else {
        (args.hparams.clone(), "command line".into())
    };
    Ok((
        TrainConfig {
            model,
            batch: args.batch,
            seed: args.seed,
            steps: args.steps,
            optimizer: name.into(),
            hparams,
            schedule: args
                .schedule
                .clone()
                .unwrap_or_else(|| TrainConfig::default_schedule(args.steps)),
            grad_clip: (args.grad_clip > 0.0).then_some(args.grad_clip),
            grad_noise: args.grad_noise,
            label_noise: args.label_noise,
        },
        source,
    ))
}

/// One line of the run's CSV (the header is written by [`run`]); `val` on evaluation steps.
fn csv_row(
    f: &mut impl Write,
    step: u64,
    r: &toygpt::StepReport,
    val: Option<f32>,
    elapsed: f64,
) -> Result<()> {
    writeln!(
        f,
        "{step},{},{},{elapsed:.4},{:.5},{:.5},{:.5},{:.5},{},{}",
        r.loss,
        val.map_or(String::new(), |v| v.to_string()),
        r.times.forward_backward,
        r.times.curvature,
        r.times.transfer,
        r.times.optimizer,
        r.grad_norm,
        r.grad_norm_l1
    )?;
    Ok(())
}

fn run(
    args: &Args,
    engine: &Engine,
    corpus: &Corpus,
    mut trainer: Trainer,
    (label, source): (String, String),
    csv: &Path,
) -> Result<RunResult> {
    let name = label;
    let hparams = trainer
        .config()
        .hparams
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    let total = args.steps;
    let tokens_per_step = args.batch as f64 * args.context as f64;
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(csv).with_context(|| format!("creating {}", csv.display()))?,
    );
    writeln!(
        f,
        "step,train_loss,val_loss,elapsed_s,forward_backward_s,curvature_s,transfer_s,optimizer_s,grad_norm,grad_norm_l1"
    )?;
    let bar = toygpt::report::progress_bar(&name, total);
    bar.set_position(trainer.step_index());
    let mut curve = Curve::new();
    let mut times = StepTimes::default();
    let mut elapsed = 0.0;
    let first_step = trainer.step_index();
    let mut last_val = trainer.evaluate(corpus, args.eval_batches)?;
    curve.push((first_step, 0.0, last_val));
    let mut last_loss = f32::NAN;
    while trainer.step_index() < total {
        let r = trainer.train_step(corpus)?;
        times.add(&r.times);
        elapsed += r.times.total();
        last_loss = r.loss;
        let step = r.step + 1;
        let val = if step % args.eval_every == 0 || step == total {
            last_val = trainer.evaluate(corpus, args.eval_batches)?;
            curve.push((step, elapsed, last_val));
            Some(last_val)
        } else {
            None
        };
        csv_row(&mut f, step, &r, val, elapsed)?;
        let done = (step - first_step) as f64;
        bar.set_message(format!(
            "loss {:.3} val {:.3} {:.0} tok/s",
            r.loss,
            last_val,
            done * tokens_per_step / elapsed.max(1e-9)
        ));
        bar.set_position(step);
        if !r.loss.is_finite() {
            bar.abandon_with_message(format!("loss diverged at step {step}"));
            break;
        }
    }
    bar.finish();
    let steps = trainer.step_index() - first_step;
    let _ = engine;
    println!(
        "{name}: train loss {last_loss:.4}, val loss {last_val:.4} after {} steps; {:.1} ms/step (forward+backward {:.1}, curvature {:.1}, transfers {:.1}, optimizer {:.1})",
        trainer.step_index(),
        1e3 * times.total() / steps.max(1) as f64,
        1e3 * times.forward_backward / steps.max(1) as f64,
        1e3 * times.curvature / steps.max(1) as f64,
        1e3 * times.transfer / steps.max(1) as f64,
        1e3 * times.optimizer / steps.max(1) as f64,
    );
    if let Some(dir) = &args.save {
        trainer.save(dir)?;
        println!("saved checkpoint to {}", dir.display());
    }
    if args.sample > 0 && args.compare.is_empty() {
        let text = trainer.generate(corpus, "\n", args.sample, 0.8, args.seed)?;
        println!("--- sample ---{text}\n--------------");
    }
    Ok(RunResult {
        name,
        curve,
        times,
        steps,
        tokens_per_s: steps as f64 * tokens_per_step / elapsed.max(1e-9),
        source,
        hparams,
    })
}

fn plot(path: &Path, runs: &[RunResult], title: &str) -> Result<()> {
    let curves: Vec<(&str, &Curve)> = runs.iter().map(|r| (r.name.as_str(), &r.curve)).collect();
    if let Some(note) = toygpt::report::plot_validation(path, &curves, title)? {
        println!("{note}");
    } else {
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn table(runs: &[RunResult], target: f32) -> String {
    let mut s = String::from(
        "| optimizer | final val loss | best val loss | steps to val ≤ target | ms/step | forward+backward | curvature | transfers | optimizer (GPU) | tokens/s |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        let per = |x: f64| 1e3 * x / r.steps.max(1) as f64;
        let last = toygpt::report::final_loss(&r.curve);
        let best = r
            .curve
            .iter()
            .map(|c| c.2)
            .filter(|v| v.is_finite())
            .fold(f32::INFINITY, f32::min);
        let hit = toygpt::report::steps_to(&r.curve, target);
        s += &format!(
            "| {} | {last:.4} | {best:.4} | {hit} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.0} |\n",
            r.name,
            per(r.times.total()),
            per(r.times.forward_backward),
            per(r.times.curvature),
            per(r.times.transfer),
            per(r.times.optimizer),
            r.tokens_per_s
        );
    }
    s
}

/// One optimizer (or a resumed checkpoint): train, write its CSV and plot, check the loss fell.
fn train_one(args: &Args, engine: &Engine, corpus: &Corpus) -> Result<()> {
    let trainer = match &args.resume {
        Some(dir) => {
            let t = Trainer::resume(engine, corpus, dir)?;
            println!(
                "resumed {} at step {} from {}",
                t.config().optimizer,
                t.step_index(),
                dir.display()
            );
            t
        }
        None => {
            let (cfg, _) = train_config(args, &args.optimizer, corpus.vocab())?;
            Trainer::new(engine, corpus, cfg)?
        }
    };
    println!(
        "{} parameters, batch {}×{}, optimizer {} {:?}",
        trainer.num_params(),
        args.batch,
        args.context,
        trainer.config().optimizer,
        trainer.config().hparams
    );
    let csv = args.out.join(format!("{}.csv", trainer.config().optimizer));
    let label = trainer.config().optimizer.clone();
    let r = run(
        args,
        engine,
        corpus,
        trainer,
        (label, "command line".into()),
        &csv,
    )?;
    println!("wrote {}", csv.display());
    plot(
        &args.out.join(format!("{}.png", r.name)),
        std::slice::from_ref(&r),
        &format!("toy GPT, {}", r.name),
    )?;
    let (first, last) = (
        r.curve.first().map_or(f32::NAN, |c| c.2),
        r.curve.last().map_or(f32::NAN, |c| c.2),
    );
    if last.is_nan() || last >= first {
        bail!("validation loss did not fall ({first:.4} → {last:.4})");
    }
    println!("validation loss fell from {first:.4} to {last:.4}");
    Ok(())
}

fn main() -> Result<()> {
    env_logger::init();
    let args = Args::parse();
    if args.list {
        println!("{}", optimizers::all_names().join("\n"));
        return Ok(());
    }
    let corpus = Corpus::load(&args.data, 0.1)?;
    std::fs::create_dir_all(&args.out)?;
    if args.distributed {
        let (cfg, _) = train_config(&args, &args.optimizer, corpus.vocab())?;
        return distributed::run(&args, &corpus, cfg);
    }
    let engine = Engine::new()?;
    println!(
        "toy GPT on {} | optimizer on {} | {} symbols, {} train / {} val tokens",
        args.data.display(),
        engine.adapter(),
        corpus.vocab(),
        corpus.train.len(),
        corpus.val.len()
    );
    if args.compare.is_empty() {
        return train_one(&args, &engine, &corpus);
    }
    if args.resume.is_some() || args.save.is_some() {
        bail!("--save/--resume apply to single runs, not --compare");
    }
    for entry in &args.compare {
        optimizers::check_name(split_entry(entry, args.adamw_lr)?.name)?;
    }
    let mut runs = Vec::new();
    for entry in &args.compare {
        let (cfg, source) = train_config(&args, entry, corpus.vocab())?;
        // An optimizer raced at several learning rates is labelled (and its CSV named) by entry.
        let name = cfg.optimizer.clone();
        let repeated = args
            .compare
            .iter()
            .filter(|e| split_entry(e, args.adamw_lr).is_ok_and(|x| x.name == name))
            .count()
            > 1;
        let label = if repeated { entry.clone() } else { name };
        println!("{entry}: {:?}", cfg.hparams);
        let trainer = Trainer::new(&engine, &corpus, cfg)?;
        let csv = args.out.join(format!("{label}.csv"));
        runs.push(run(
            &args,
            &engine,
            &corpus,
            trainer,
            (label, source),
            &csv,
        )?);
    }
    let noise = match (args.grad_noise, args.label_noise) {
        (g, l) if g > 0.0 || l > 0.0 => format!(", gradient noise {g}, label noise {l}"),
        _ => String::new(),
    };
    let title = format!(
        "toy GPT ({} layers, width {}, {} heads, context {}), batch {}, seed {}{noise}",
        args.layers, args.width, args.heads, args.context, args.batch, args.seed
    );
    plot(&args.out.join("compare.png"), &runs, &title)?;
    let mut md = format!("# {title}\n\nAdapter: {}\n\n", engine.adapter());
    md += &table(&runs, args.target_loss);
    md += &format!(
        "\nTarget validation loss: {}. Hyperparameters and their sources:\n\n",
        args.target_loss
    );
    for r in &runs {
        md += &format!("- **{}** (`{}`): {}\n", r.name, r.hparams, r.source);
    }
    let path = args.out.join("compare.md");
    std::fs::write(&path, &md)?;
    println!("\n{md}\nwrote {}", path.display());
    Ok(())
}
