//! `--distributed`: the toy GPT data-parallel over MPI (`mpirun -np N … gpt_toy
//! --distributed`). Every rank draws the same global batch and trains on its own slice of
//! rows (batch/N sequences); wgopt-dist averages the gradients, so the loss is the global
//! batch's in expectation and the update is the single process's up to summation order.
//! Rank 0 prints progress, evaluates and writes `distributed-<N>.csv`.

use crate::Args;
use anyhow::{bail, Context, Result};
use std::io::Write;
use toygpt::optimizers::router;
use toygpt::report::{plot_single, Curve};
use toygpt::{param_specs, Activations, Corpus, Gpt, Split, TrainConfig};
use wgopt::optim::registry::{split_partner, Request};
use wgopt::{Engine, GuardConfig, Schedule};
use wgopt_dist::{Communicator, DataParallel};

/// Mean loss of rank 0's model over the fixed validation batches (as `Trainer::evaluate`).
fn evaluate(model: &Gpt<f32>, corpus: &Corpus, cfg: &TrainConfig, batches: usize) -> Result<f32> {
    let t = cfg.model.context;
    let mut acts = Activations::new(&cfg.model, cfg.batch, t);
    let mut sum = 0.0;
    for i in 0..batches.max(1) {
        let b = corpus.batch(Split::Val, cfg.batch, t, cfg.seed, i as u64, 0.0)?;
        sum += model.forward(&mut acts, &b.tokens, &b.targets)?;
    }
    Ok(sum / batches.max(1) as f32)
}

fn data_parallel(comm: Communicator, engine: &Engine, cfg: &TrainConfig) -> Result<DataParallel> {
    let named = param_specs(&cfg.model);
    let specs = router(&cfg.optimizer).specs(named.iter().map(|(n, s)| (n.as_str(), s.as_slice())));
    let (main, partner) = split_partner(&cfg.hparams);
    let req = Request {
        hparams: &main,
        partner: &partner,
        no_decay: &["no_decay"],
        guard: GuardConfig {
            max_grad_norm: cfg.grad_clip,
            skip_non_finite: true,
        },
        seed: cfg.seed,
    };
    let mut dp = DataParallel::new(comm, engine, &specs, &cfg.optimizer, &req)?;
    dp.set_schedule(Schedule::parse(&cfg.schedule)?)?;
    Ok(dp)
}

pub fn run(args: &Args, corpus: &Corpus, cfg: TrainConfig) -> Result<()> {
    let comm = Communicator::world()?;
    let (rank, world) = (comm.rank(), comm.size());
    if !cfg.batch.is_multiple_of(world) {
        bail!("--batch {} does not divide among {world} ranks", cfg.batch);
    }
    if cfg.optimizer.starts_with("sophia") || cfg.optimizer == "adahessian" {
        bail!(
            "--distributed runs no curvature passes; {} needs them",
            cfg.optimizer
        );
    }
    let engine = Engine::new()?;
    let mut model: Gpt<f32> = Gpt::new(cfg.model, cfg.seed)?;
    let mut dp = data_parallel(comm, &engine, &cfg)?;
    let initial: Vec<&[f32]> = model.params.iter().map(Vec::as_slice).collect();
    dp.set_params(&initial)?;
    let (local, t) = (cfg.batch / world, cfg.model.context);
    let mut acts = Activations::new(&cfg.model, local, t);
    let mut grads = model.zeros_like();
    let csv = args.out.join(format!("distributed-{world}.csv"));
    let mut out = if rank == 0 {
        println!(
            "{} on {world} ranks, {local} of {} sequences each, {}",
            cfg.optimizer,
            cfg.batch,
            engine.adapter()
        );
        let mut f = std::fs::File::create(&csv).with_context(|| csv.display().to_string())?;
        writeln!(f, "step,train_loss,val_loss,bytes_sent,mpi_s")?;
        Some(f)
    } else {
        None
    };
    let started = std::time::Instant::now();
    let mut curve: Curve = Vec::new();
    for step in 0..cfg.steps {
        let batch = corpus.batch(Split::Train, cfg.batch, t, cfg.seed, step, cfg.label_noise)?;
        let rows = rank * local * t..(rank + 1) * local * t;
        let loss = model.forward(
            &mut acts,
            &batch.tokens[rows.clone()],
            &batch.targets[rows.clone()],
        )?;
        model.backward(
            &mut acts,
            &batch.tokens[rows.clone()],
            &batch.targets[rows],
            &mut grads,
        )?;
        let refs: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
        let stats = dp.step(&refs)?;
        for (i, p) in model.params.iter_mut().enumerate() {
            p.copy_from_slice(dp.param(i));
        }
        let losses = dp.communicator().all_gather_pairs([f64::from(loss), 0.0]);
        let train = losses.iter().map(|l| l[0]).sum::<f64>() / world as f64;
        let last = step + 1 == cfg.steps;
        if let Some(f) = out.as_mut() {
            let val = if step % args.eval_every == 0 || last {
                let v = evaluate(&model, corpus, &cfg, args.eval_batches)?;
                println!(
                    "step {step:>4}  train {train:.4}  val {v:.4}  sent {} B/step  {:.1} s",
                    stats.traffic.total_bytes(),
                    started.elapsed().as_secs_f64()
                );
                curve.push((step + 1, started.elapsed().as_secs_f64(), v));
                v.to_string()
            } else {
                String::new()
            };
            writeln!(
                f,
                "{step},{train},{val},{},{}",
                stats.traffic.total_bytes(),
                stats.traffic.mpi_seconds
            )?;
        }
    }
    if rank == 0 {
        println!("wrote {}", csv.display());
        finish(&args.out, world, &curve)?;
    }
    Ok(())
}

/// Rank 0's plot of the validation curve, and the check that the loss fell.
fn finish(out: &std::path::Path, world: usize, curve: &Curve) -> Result<()> {
    let png = out.join(format!("distributed-{world}.png"));
    let title = format!("data parallel over {world} ranks");
    let note = plot_single(&png, &format!("{world} ranks"), curve, &title)
        .map_err(|e| anyhow::anyhow!(e))?;
    println!("{note}");
    Ok(())
}
