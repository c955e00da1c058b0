//! DGC scenarios: every rank runs `DgcDataParallel` and also simulates all N workers with the
//! reference twin (`wgopt_reference::dgc`) and a CPU SGD, from the same per-rank gradients,
//! and compares parameters.

use crate::model::{batch_mean, engine, initial, refs, specs, MICRO};
use wgopt_dist::dgc::{DgcConfig, DgcDataParallel};
use wgopt_dist::Communicator;
use wgopt_optim::registry;
use wgopt_reference::dgc::{clip_values, exchange, DgcWorker};
use wgopt_scheduler::{Engine, GuardConfig, ParamSet, ParamSpec};

const LR: f32 = 0.1;

/// GPU against CPU after a few SGD steps of lr 0.1: the compressor's values agree to ~1e-7
/// (its parity test), the sum and SGD step are one rounding each; 1e-5 is far below the
/// ~1e-2 a wrongly sent coordinate would move a parameter.
const TOLERANCE: f32 = 1e-5;

/// The run every scenario starts from: the test model at its initial values on every rank.
fn start(
    comm: Communicator,
    cfg: DgcConfig,
) -> Result<(DgcDataParallel, Vec<ParamSpec>, Engine), String> {
    let engine = engine()?;
    let specs = specs("sgd");
    let mut dp = DgcDataParallel::new(comm, &engine, &specs, cfg, f64::from(LR), 0.0)
        .map_err(|e| e.to_string())?;
    dp.set_params(&refs(&initial(&specs)))
        .map_err(|e| e.to_string())?;
    Ok((dp, specs, engine))
}

fn rank_grads(specs: &[ParamSpec], step: u64, r: usize, n: usize) -> Vec<Vec<f32>> {
    batch_mean(specs, 0, step, r * MICRO / n..(r + 1) * MICRO / n)
}

fn max_diff(dp: &DgcDataParallel, want: &[Vec<f32>]) -> Result<f32, String> {
    let mut worst = 0f32;
    for (i, w) in want.iter().enumerate() {
        let ours = dp.read_param(i).map_err(|e| e.to_string())?;
        for (a, b) in ours.iter().zip(w) {
            let d = (a - b).abs();
            if !d.is_finite() {
                return Err(format!("non-finite parameter {a} vs {b}"));
            }
            worst = worst.max(d);
        }
    }
    Ok(worst)
}

/// `dgc <ratio> <masking> <nesterov> <clipping> <steps>`, with a two-epoch warm-up (epochs
/// of three steps).
pub fn against_twin(comm: Communicator, args: &[String]) -> Result<String, String> {
    let flag = |i: usize| args.get(i).is_some_and(|a| a == "1");
    let ratio: f64 = args.get(1).and_then(|a| a.parse().ok()).ok_or("ratio")?;
    let steps: u64 = args.get(5).and_then(|a| a.parse().ok()).ok_or("steps")?;
    let cfg = DgcConfig {
        ratio,
        momentum_masking: flag(2),
        nesterov: flag(3),
        local_clipping: flag(4),
        warmup_epochs: 2,
        ..DgcConfig::default()
    };
    let (world, rank) = (comm.size(), comm.rank());
    let (mut dp, specs, _) = start(comm, cfg)?;
    let mut params = initial(&specs);
    let sizes: Vec<usize> = specs.iter().map(ParamSpec::numel).collect();
    let mut workers: Vec<DgcWorker> = (0..world).map(|_| DgcWorker::new(&sizes)).collect();
    let mut sent = 0;
    for step in 0..steps {
        let epoch = (step / 3) as u32;
        dp.set_epoch(epoch).map_err(|e| e.to_string())?;
        let grads: Vec<Vec<Vec<f32>>> = (0..world)
            .map(|r| rank_grads(&specs, step, r, world))
            .collect();
        let stats = dp.step(&refs(&grads[rank])).map_err(|e| e.to_string())?;
        let sumsq: Vec<Vec<f64>> = grads
            .iter()
            .map(|g| {
                g.iter()
                    .map(|t| t.iter().map(|&x| f64::from(x) * f64::from(x)).sum())
                    .collect()
            })
            .collect();
        let clip = clip_values(&sumsq);
        let messages = workers
            .iter_mut()
            .zip(&grads)
            .map(|(w, g)| w.compress(&cfg, cfg.ratio_at(epoch), &refs(g), &clip))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let dense = exchange(&messages, &sizes);
        for (p, g) in params.iter_mut().flatten().zip(dense.iter().flatten()) {
            *p -= LR * g;
        }
        sent = stats.sent;
        let want: usize = messages[0].iter().map(|s| s.indices.len()).sum();
        if stats.sent != want {
            return Err(format!(
                "step {step}: sent {} coordinates, the twin {want}",
                stats.sent
            ));
        }
    }
    let worst = max_diff(&dp, &params)?;
    let line = format!("dgc ratio {ratio} {cfg:?} world {world}: sent {sent} per rank per step at the end, max |Δparam| {worst:.3e} (tolerance {TOLERANCE:.0e})");
    if worst <= TOLERANCE {
        Ok(line)
    } else {
        Err(line)
    }
}

/// `dgc-full <steps>`: ratio 1.0 without momentum masking against wgopt's SGD with momentum
/// 0.9 on the mean gradient in one process: DGC reduces to data-parallel momentum SGD.
pub fn full_ratio_is_momentum_sgd(comm: Communicator, steps: u64) -> Result<String, String> {
    let cfg = DgcConfig {
        ratio: 1.0,
        momentum_masking: false,
        warmup_epochs: 0,
        ..DgcConfig::default()
    };
    let (world, rank) = (comm.size(), comm.rank());
    let (mut dp, specs, engine) = start(comm, cfg)?;
    let mut plain = ParamSet::new(&engine, &specs).map_err(|e| e.to_string())?;
    for (s, v) in specs.iter().zip(initial(&specs)) {
        plain.write_param(&s.name, &v).map_err(|e| e.to_string())?;
    }
    let lr = LR.to_string();
    let mut sgd = registry::create(
        "sgd",
        &plain,
        &[("lr", &lr), ("momentum", "0.9")],
        &[],
        GuardConfig {
            max_grad_norm: None,
            skip_non_finite: true,
        },
    )
    .map_err(|e| e.to_string())?;
    for step in 0..steps {
        dp.step(&refs(&rank_grads(&specs, step, rank, world)))
            .map_err(|e| e.to_string())?;
        let mean = batch_mean(&specs, 0, step, 0..MICRO);
        for (s, g) in specs.iter().zip(&mean) {
            plain.write_grad(&s.name, g).map_err(|e| e.to_string())?;
        }
        sgd.step(&mut plain).map_err(|e| e.to_string())?;
    }
    let want = plain.read_params_by_slot().map_err(|e| e.to_string())?;
    let by_name: Vec<Vec<f32>> = specs
        .iter()
        .map(|s| want[plain.layout().index_of(&s.name).unwrap_or(0)].clone())
        .collect();
    let worst = max_diff(&dp, &by_name)?;
    // Momentum of the mean (DGC) against the mean of momenta (SGD): the same sums in another
    // order, ~1e-7 per step at these magnitudes.
    let line = format!("dgc ratio 1.0 = momentum SGD, world {world}: max |Δparam| {worst:.3e} (tolerance {TOLERANCE:.0e})");
    if worst <= TOLERANCE {
        Ok(line)
    } else {
        Err(line)
    }
}

/// `dgc-nan`: a NaN in the last rank's gradient at step 1 skips every rank, memory and
/// parameters untouched.
pub fn nan_on_one_rank(comm: Communicator) -> Result<String, String> {
    let cfg = DgcConfig {
        ratio: 0.05,
        warmup_epochs: 0,
        ..DgcConfig::default()
    };
    let (world, rank) = (comm.size(), comm.rank());
    let (mut dp, specs, _) = start(comm, cfg)?;
    let e = |e: wgopt_dist::Error| e.to_string();
    for step in 0..3 {
        let mut g = rank_grads(&specs, step, rank, world);
        if step == 1 && rank == world - 1 {
            g[2][0] = f32::NAN;
        }
        let before = (
            dp.memory().map_err(e)?,
            (0..specs.len())
                .map(|i| dp.read_param(i))
                .collect::<Result<Vec<_>, _>>()
                .map_err(e)?,
        );
        let stats = dp.step(&refs(&g)).map_err(e)?;
        if stats.found_inf != (step == 1) {
            return Err(format!("step {step}: found_inf {}", stats.found_inf));
        }
        let after = (
            dp.memory().map_err(e)?,
            (0..specs.len())
                .map(|i| dp.read_param(i))
                .collect::<Result<Vec<_>, _>>()
                .map_err(e)?,
        );
        if step == 1 && before != after {
            return Err("the skipped step changed the memory or the parameters".into());
        }
    }
    Ok("dgc skipped together, memory and parameters untouched".into())
}

/// `dgc-traffic <ratio> <steps>`: bytes and time per step at GPT-2-small's shapes (width ×
/// `WGOPT_DIST_SCALE`), no warm-up.
pub fn traffic(comm: Communicator, ratio: f64, steps: u64) -> Result<String, String> {
    let scale: f64 = std::env::var("WGOPT_DIST_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let cfg = DgcConfig {
        ratio,
        warmup_epochs: 0,
        ..DgcConfig::default()
    };
    let engine = engine()?;
    let specs = crate::model::gpt2_specs("sgd", scale);
    let mut dp =
        DgcDataParallel::new(comm, &engine, &specs, cfg, 0.1, 0.0).map_err(|e| e.to_string())?;
    let g: Vec<Vec<f32>> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (0..s.numel())
                .map(|e| ((e * 7 + i) % 13) as f32 * 1e-3)
                .collect()
        })
        .collect();
    dp.step(&refs(&g)).map_err(|e| e.to_string())?;
    let t = std::time::Instant::now();
    let mut last = Default::default();
    for _ in 0..steps {
        last = dp.step(&refs(&g)).map_err(|e| e.to_string())?;
    }
    let wgopt_dist::dgc::DgcStats { sent, traffic, .. } = last;
    let total: usize = specs.iter().map(ParamSpec::numel).sum();
    Ok(format!(
        "dgc-traffic ratio {ratio} world {} params {total} sent {sent} step_s {:.4} mpi_s {:.4} all_gather_B {} control_B {}",
        dp.world(), t.elapsed().as_secs_f64() / steps as f64, traffic.mpi_seconds, traffic.all_gather_bytes, traffic.control_bytes
    ))
}
