//! The check's model: a small transformer-like parameter set with awkward shapes, gradients
//! that are a fixed function of (step, micro-batch, parameter, element), and the
//! single-process oracle on the whole batch.

use std::path::Path;
use std::time::Instant;
use wgopt_dist::checkpoint::State;
use wgopt_dist::{Communicator, DataParallel, DistStats, Error};
use wgopt_optim::registry::{self, Driver, Request};
use wgopt_optim::routing::Router;
use wgopt_scheduler::{Engine, GuardConfig, ParamSet, ParamSpec};

/// Micro-batches per global batch: divisible by 1, 2, 3 and 6 ranks, so every world size
/// sees the same global batch.
pub const MICRO: usize = 6;

/// Gradients are clipped at this global norm, which the test gradients exceed, so the
/// global clip is exercised on every step.
const MAX_NORM: f32 = 2.0;

/// How far the N-rank trajectory may drift from the single process. The mean gradient is
/// summed in a different order (per-rank means, then MPI's sum, then /N, against one sum of
/// six and /6): a few ulps, ≤ 1e-6 relative. An update's sensitivity to a relative gradient
/// change of δ is about δ·lr for Adam-like rules and for Newton–Schulz's output (well
/// conditioned at these shapes), so after 10 steps at lr ≤ 0.02 parameters drift by ≲ 1e-6;
/// 2e-5 leaves a margin of ten while still catching any real error (a wrong shard, a missed
/// clip, a lost step all move parameters by ~lr ≥ 1e-3).
pub const TOLERANCE: f32 = 2e-5;

pub fn engine() -> Result<Engine, String> {
    Engine::new().map_err(|e| e.to_string())
}

/// The model's parameters, grouped by the optimizer's router.
pub fn specs(name: &str) -> Vec<ParamSpec> {
    let shapes: [(&str, &[usize]); 8] = [
        ("wte", &[37, 24]),
        ("h.0.attn.w", &[24, 72]),
        ("h.0.attn.bias", &[72]),
        ("h.0.mlp.w", &[72, 24]),
        ("h.0.ln.g", &[24]),
        ("h.1.mlp.w", &[24, 40]),
        ("h.1.mlp.w2", &[40, 24]),
        ("lm_head", &[24, 37]),
    ];
    let router = registry::find(name)
        .map(|e| (e.router)())
        .unwrap_or_else(|_| Router::decay_split());
    // Muon, ROOT, Polar Express and SinkGD alone take matrices only (their hybrids route the
    // rest to AdamW).
    let matrices_only = matches!(name, "muon" | "root" | "polar-express" | "sinkgd");
    router.specs(
        shapes
            .into_iter()
            .filter(|(_, s)| !matrices_only || s.len() == 2),
    )
}

/// A value in [−1, 1) from a key (splitmix64).
fn noise(key: u64) -> f32 {
    let mut z = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
}

/// Micro-batch `j`'s gradient of parameter `i` at `step` (`kind` 1: a curvature estimate).
fn micro(kind: u64, step: u64, j: usize, i: usize, n: usize) -> Vec<f32> {
    (0..n)
        .map(|e| {
            let k = (((kind * 1_000 + step) * 16 + j as u64) * 64 + i as u64) << 24 | e as u64;
            let g = noise(k) * 0.5;
            if kind == 1 {
                g * g
            } else {
                g
            }
        })
        .collect()
}

/// The mean over micro-batches `js` of every parameter's gradient.
pub fn batch_mean(
    specs: &[ParamSpec],
    kind: u64,
    step: u64,
    js: std::ops::Range<usize>,
) -> Vec<Vec<f32>> {
    let count = js.len() as f32;
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut sum = vec![0.0f32; s.numel()];
            for j in js.clone() {
                for (a, g) in sum.iter_mut().zip(micro(kind, step, j, i, s.numel())) {
                    *a += g;
                }
            }
            sum.iter().map(|a| a / count).collect()
        })
        .collect()
}

pub fn initial(specs: &[ParamSpec]) -> Vec<Vec<f32>> {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (0..s.numel())
                .map(|e| 0.2 * noise((i as u64) << 32 | e as u64))
                .collect()
        })
        .collect()
}

pub fn refs(v: &[Vec<f32>]) -> Vec<&[f32]> {
    v.iter().map(Vec::as_slice).collect()
}

/// The table's recommended hyperparameters for the toy GPT, and the clipping guard.
fn hparams(name: &str) -> Vec<(String, String)> {
    registry::find(name)
        .map(|e| (e.recommended)(3e-3, 256))
        .unwrap_or_default()
}

fn with_request<T>(name: &str, f: impl FnOnce(&Request<'_>) -> T) -> T {
    let kv = hparams(name);
    let (main, partner) = registry::split_partner(&kv);
    let req = Request {
        hparams: &main,
        partner: &partner,
        no_decay: &["no_decay"],
        guard: GuardConfig {
            max_grad_norm: Some(MAX_NORM),
            skip_non_finite: true,
        },
        seed: 0,
    };
    f(&req)
}

/// One rank of the distributed run.
pub struct Run {
    pub dp: DataParallel,
    specs: Vec<ParamSpec>,
}

impl Run {
    pub fn new(comm: Communicator, name: &str) -> Result<Run, String> {
        let engine = engine()?;
        let specs = specs(name);
        let mut dp = with_request(name, |req| {
            DataParallel::new(comm, &engine, &specs, name, req)
        })
        .map_err(|e| e.to_string())?;
        dp.set_params(&refs(&initial(&specs)))
            .map_err(|e| e.to_string())?;
        Ok(Run { dp, specs })
    }

    pub fn world(&self) -> usize {
        self.dp.world()
    }

    pub fn specs(&self) -> &[ParamSpec] {
        &self.specs
    }

    /// This rank's micro-batches.
    fn mine(&self) -> std::ops::Range<usize> {
        let (r, n) = (self.dp.rank(), self.dp.world());
        r * MICRO / n..(r + 1) * MICRO / n
    }

    fn local(&self, kind: u64, step: u64, nan_on: Option<usize>) -> Vec<Vec<f32>> {
        let mut g = batch_mean(&self.specs, kind, step, self.mine());
        if nan_on == Some(self.dp.rank()) {
            g[1][5] = f32::NAN;
        }
        g
    }

    /// One step (and Sophia's estimate when due); `nan_on`: the rank whose gradient gets a NaN.
    pub fn step(&mut self, step: u64, nan_on: Option<usize>) -> Result<DistStats, String> {
        let g = self.local(0, step, nan_on);
        let stats = self.dp.step(&refs(&g)).map_err(|e| e.to_string())?;
        if self.dp.curvature_due() {
            let h = self.local(1, step, None);
            self.dp
                .update_curvature(&refs(&h))
                .map_err(|e| e.to_string())?;
        }
        Ok(stats)
    }

    /// A step where rank `bad` passes its last gradient one element short.
    pub fn step_truncated(&mut self, step: u64, bad: usize) -> Result<DistStats, Error> {
        let mut g = self.local(0, step, None);
        if self.dp.rank() == bad {
            g.last_mut().map(Vec::pop);
        }
        self.dp.step(&refs(&g))
    }

    pub fn params_flat(&self) -> Vec<f32> {
        self.dp.params().concat()
    }

    /// This rank's optimizer state tensors.
    pub fn state(&mut self) -> Result<Vec<(String, Vec<f32>)>, String> {
        let bytes = self.dp.save_shard().map_err(|e| e.to_string())?;
        let s = State::parse(&bytes)?;
        Ok(s.tensors.into_iter().map(|(k, (_, v))| (k, v)).collect())
    }
}

/// The trajectory with gradients written into a GPU parameter set and parameters returned
/// there (`DataParallel::step_param_set`).
pub fn trajectory_gpu(comm: Communicator, name: &str, steps: u64) -> Result<String, String> {
    let mut run = Run::new(comm, name)?;
    let mut oracle = Oracle::new(name, &run)?;
    let engine = engine()?;
    let mut full = ParamSet::new(&engine, run.specs()).map_err(|e| e.to_string())?;
    for step in 0..steps {
        let g = run.local(0, step, None);
        for (s, v) in run.specs.iter().zip(&g) {
            full.write_grad(&s.name, v).map_err(|e| e.to_string())?;
        }
        run.dp
            .step_param_set(&mut full)
            .map_err(|e| e.to_string())?;
        oracle.step(step, &run, None)?;
    }
    for (i, s) in run.specs().iter().enumerate() {
        if full.read_param(&s.name).map_err(|e| e.to_string())? != run.dp.param(i) {
            return Err(format!(
                "{}: the parameter set differs from the gathered parameters",
                s.name
            ));
        }
    }
    oracle
        .compare(&run)
        .map(|l| format!("through a GPU parameter set: {l}"))
}

/// The same optimizer in one process on the whole batch.
pub struct Oracle {
    params: ParamSet,
    driver: Driver,
}

impl Oracle {
    pub fn new(name: &str, run: &Run) -> Result<Oracle, String> {
        let engine = engine()?;
        let mut params = ParamSet::new(&engine, run.specs()).map_err(|e| e.to_string())?;
        for (s, v) in run.specs().iter().zip(initial(run.specs())) {
            params.write_param(&s.name, &v).map_err(|e| e.to_string())?;
        }
        let entry = registry::find(name).map_err(|e| e.to_string())?;
        let driver = with_request(name, |req| entry.recipe.build(&params, req))
            .map_err(|e| e.to_string())?;
        Ok(Oracle { params, driver })
    }

    pub fn step(&mut self, step: u64, run: &Run, nan_on: Option<usize>) -> Result<(), String> {
        let specs = run.specs();
        let mut g = batch_mean(specs, 0, step, 0..MICRO);
        if nan_on.is_some() {
            g[1][5] = f32::NAN;
        }
        self.write(specs, &g)?;
        self.driver
            .optimizer()
            .step(&mut self.params)
            .map_err(|e| e.to_string())?;
        if let Driver::Sophia(s) = &mut self.driver {
            if s.hessian_due() {
                let h = batch_mean(specs, 1, step, 0..MICRO);
                let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
                for (n, v) in names.iter().zip(&h) {
                    self.params.write_grad(n, v).map_err(|e| e.to_string())?;
                }
                s.update_hessian(&mut self.params)
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    fn write(&mut self, specs: &[ParamSpec], g: &[Vec<f32>]) -> Result<(), String> {
        for (s, v) in specs.iter().zip(g) {
            self.params
                .write_grad(&s.name, v)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The global norm the distributed guard saw against the single process's.
    pub fn check_norm(&mut self, stats: &DistStats) -> Result<(), String> {
        let ours = self.driver.optimizer().stats().map_err(|e| e.to_string())?;
        let rel = (ours.grad_norm - stats.grad_norm).abs() / ours.grad_norm;
        if rel > 1e-5 || (ours.clip_coef - stats.clip_coef).abs() > 1e-5 {
            return Err(format!(
                "norm {} / clip {} vs single process {} / {}",
                stats.grad_norm, stats.clip_coef, ours.grad_norm, ours.clip_coef
            ));
        }
        Ok(())
    }

    /// Largest parameter difference, within [`TOLERANCE`].
    pub fn compare(&self, run: &Run) -> Result<String, String> {
        let mut worst = 0.0f32;
        for (i, s) in run.specs().iter().enumerate() {
            let ours = self.params.read_param(&s.name).map_err(|e| e.to_string())?;
            for (a, b) in ours.iter().zip(run.dp.param(i)) {
                let d = (a - b).abs();
                if !d.is_finite() {
                    return Err(format!("{}: non-finite ({a} vs {b})", s.name));
                }
                worst = worst.max(d);
            }
        }
        let line = format!(
            "{} world {} max |Δparam| {worst:.3e} (tolerance {TOLERANCE:.0e})",
            run.dp.name(),
            run.world()
        );
        if worst <= TOLERANCE {
            Ok(line)
        } else {
            Err(line)
        }
    }
}

/// Runs `steps` steps, then writes the parameters and the gathered state (rank 0) and every
/// rank's shard file into `dir`.
pub fn save(comm: Communicator, dir: &str, name: &str, steps: u64) -> Result<String, String> {
    let mut run = Run::new(comm, name)?;
    for step in 0..steps {
        run.step(step, None)?;
    }
    let dir = Path::new(dir);
    let io = |e: std::io::Error| e.to_string();
    let shard = run.dp.save_shard().map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join(format!("shard-{}.safetensors", run.dp.rank())),
        shard,
    )
    .map_err(io)?;
    if let Some(bytes) = run.dp.save_gathered().map_err(|e| e.to_string())? {
        std::fs::write(dir.join("opt.safetensors"), bytes).map_err(io)?;
        let flat: Vec<u8> = run
            .params_flat()
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        std::fs::write(dir.join("params.bin"), flat).map_err(io)?;
    }
    Ok(format!(
        "saved after {steps} steps at world {}",
        run.world()
    ))
}

/// Resumes from `save`'s files (`gathered` or `shards`) at this world size, runs `more`
/// steps, and compares with one uninterrupted process.
pub fn resume(comm: Communicator, args: &[String]) -> Result<String, String> {
    let get = |i: usize| {
        args.get(i)
            .cloned()
            .ok_or_else(|| format!("argument {i} missing"))
    };
    let (dir, name, mode) = (get(1)?, get(2)?, get(5)?);
    let steps: u64 = get(3)?.parse().map_err(|_| "steps")?;
    let more: u64 = get(4)?.parse().map_err(|_| "more")?;
    let dir = Path::new(&dir);
    let mut run = Run::new(comm, &name)?;
    let flat = std::fs::read(dir.join("params.bin")).map_err(|e| e.to_string())?;
    let flat: Vec<f32> = flat
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let mut at = 0;
    let values: Vec<&[f32]> = run
        .specs()
        .iter()
        .map(|s| {
            at += s.numel();
            &flat[at - s.numel()..at]
        })
        .collect();
    run.dp.set_params(&values).map_err(|e| e.to_string())?;
    let files = checkpoint_files(dir, &mode)?;
    run.dp.load(&files).map_err(|e| e.to_string())?;
    for step in steps..steps + more {
        run.step(step, None)?;
    }
    let mut oracle = Oracle::new(&name, &run)?;
    for step in 0..steps + more {
        oracle.step(step, &run, None)?;
    }
    oracle
        .compare(&run)
        .map(|s| format!("resumed from {mode}: {s}"))
}

fn checkpoint_files(dir: &Path, mode: &str) -> Result<Vec<Vec<u8>>, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    if mode == "gathered" {
        return Ok(vec![read(&dir.join("opt.safetensors"))?]);
    }
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("shard-"))
        })
        .collect();
    paths.sort();
    paths.iter().map(|p| read(p)).collect()
}

/// Bytes and wall time per step at GPT-2-small's shapes (× `WGOPT_DIST_SCALE` on the width).
pub fn traffic(comm: Communicator, name: &str, steps: u64) -> Result<String, String> {
    let scale: f64 = std::env::var("WGOPT_DIST_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let engine = engine()?;
    let specs = gpt2_specs(name, scale);
    let mut dp = with_request(name, |req| {
        DataParallel::new(comm, &engine, &specs, name, req)
    })
    .map_err(|e| e.to_string())?;
    let g: Vec<Vec<f32>> = specs.iter().map(|s| vec![1e-3; s.numel()]).collect();
    dp.step(&refs(&g)).map_err(|e| e.to_string())?; // warm-up: pipelines, first mappings
    let t = Instant::now();
    let mut last = DistStats::default();
    for _ in 0..steps {
        last = dp.step(&refs(&g)).map_err(|e| e.to_string())?;
    }
    let per_step = t.elapsed().as_secs_f64() / steps as f64;
    let total: usize = specs.iter().map(ParamSpec::numel).sum();
    Ok(format!(
        "traffic {name} world {} params {total} step_s {per_step:.4} mpi_s {:.4} reduce_scatter_B {} all_gather_B {} control_B {}",
        dp.world(), last.traffic.mpi_seconds, last.traffic.reduce_scatter_bytes, last.traffic.all_gather_bytes, last.traffic.control_bytes
    ))
}

/// GPT-2 small (12 layers, width 768 × scale, vocabulary 50257, context 1024) as parameter
/// specs, grouped by the optimizer's router.
pub fn gpt2_specs(name: &str, scale: f64) -> Vec<ParamSpec> {
    let d = ((768.0 * scale) as usize).max(8) / 8 * 8;
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        ("wte".into(), vec![50257, d]),
        ("wpe".into(), vec![1024, d]),
    ];
    for l in 0..12 {
        for (n, s) in [
            ("ln_1.weight", vec![d]),
            ("ln_1.bias", vec![d]),
            ("attn.c_attn.weight", vec![d, 3 * d]),
            ("attn.c_attn.bias", vec![3 * d]),
            ("attn.c_proj.weight", vec![d, d]),
            ("attn.c_proj.bias", vec![d]),
            ("ln_2.weight", vec![d]),
            ("ln_2.bias", vec![d]),
            ("mlp.c_fc.weight", vec![d, 4 * d]),
            ("mlp.c_fc.bias", vec![4 * d]),
            ("mlp.c_proj.weight", vec![4 * d, d]),
            ("mlp.c_proj.bias", vec![d]),
        ] {
            shapes.push((format!("h.{l}.{n}"), s));
        }
    }
    shapes.push(("ln_f.weight".into(), vec![d]));
    shapes.push(("ln_f.bias".into(), vec![d]));
    let router = registry::find(name)
        .map(|e| (e.router)())
        .unwrap_or_else(|_| Router::decay_split());
    router.specs(shapes.iter().map(|(n, s)| (n.as_str(), s.as_slice())))
}
