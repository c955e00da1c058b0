//! bench-gpu rows for the fused elementwise optimizers: every optimizer of the table that has a
//! traffic figure (`Recipe::bytes_per_element`), timed with GPU timestamps against the copy
//! kernel, with its CPU reference beside it.

use crate::bench::{fill, fresh_engine, median};
use anyhow::{bail, Result};
use serde::Serialize;
use std::time::Instant;
use wgopt::optim::registry::{self, Driver, Request};
use wgopt::{Engine, ParamSet, ParamSpec};

#[derive(Serialize)]
pub struct OptimRow {
    pub optimizer: String,
    pub params: usize,
    pub bytes_per_param: usize,
    pub update_us: f64,
    pub update_gbps: f64,
    pub ratio_to_copy: f64,
    pub guard_us: f64,
    pub dispatches: usize,
    pub cpu_reference_us: f64,
    pub cpu_reference_gbps: f64,
}

/// Every optimizer (`only`: these names) at every size.
pub fn rows(
    sizes: &[usize],
    only: &[String],
    repeats: usize,
    copy_gbps: f64,
) -> Result<Vec<OptimRow>> {
    let mut rows = Vec::new();
    for &n in sizes {
        for name in bench_optimizers()
            .into_iter()
            .filter(|o| only.is_empty() || only.iter().any(|x| x == o))
        {
            let row = bench_optimizer(&fresh_engine()?, name, n, repeats, copy_gbps)?;
            println!(
                "{name:6} {n:>9} params: {:9.1} us  {:7.1} GB/s  {:.2}x copy  (guard {:.1} us; CPU reference {:.1} GB/s)",
                row.update_us, row.update_gbps, row.ratio_to_copy, row.guard_us, row.cpu_reference_gbps
            );
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Tensors of at most 4M elements adding up to `n`.
fn flat_specs(n: usize) -> Vec<ParamSpec> {
    let piece = 4 << 20;
    (0..n.div_ceil(piece))
        .map(|i| ParamSpec::new(format!("t{i}"), &[piece.min(n - i * piece)], "all"))
        .collect()
}

fn hparams(name: &str) -> Vec<(&'static str, &'static str)> {
    match name {
        "sgd" => vec![("lr", "0.01"), ("momentum", "0.9")],
        _ => vec![("lr", "0.001")],
    }
}

/// Every fused elementwise optimizer of the table (those with a traffic figure).
pub fn bench_optimizers() -> Vec<&'static str> {
    wgopt::optim::table::OPTIMIZERS
        .iter()
        .filter(|e| {
            let kv = hparams(e.name);
            let req = Request {
                hparams: &kv,
                ..Request::default()
            };
            matches!(e.recipe.bytes_per_element(&req), Ok(Some(_)))
        })
        .map(|e| e.name)
        .collect()
}

/// The timed steps: GPU timestamps of the update kernels and of the guard, per repeat.
fn time_steps(
    driver: &mut Driver,
    params: &mut ParamSet,
    repeats: usize,
) -> Result<(Vec<f64>, Vec<f64>)> {
    driver.optimizer().enable_timing()?;
    let (mut update, mut guard) = (Vec::new(), Vec::new());
    for i in 0..repeats + 1 {
        // AdaHessian needs a probe draw (outside the timed step); its Hz stays in place.
        if let Driver::AdaHessian(a) = driver {
            a.probes()?;
        }
        let opt = driver.optimizer();
        opt.step(params)?;
        let t = opt.timings()?;
        if i > 0 {
            let sum = |update: bool| -> f64 {
                t.iter()
                    .filter(|x| x.0.starts_with("optim/") == update)
                    .map(|x| x.1)
                    .sum()
            };
            update.push(sum(true));
            guard.push(sum(false));
        }
    }
    Ok((update, guard))
}

fn bench_optimizer(
    engine: &Engine,
    name: &str,
    n: usize,
    repeats: usize,
    copy_gbps: f64,
) -> Result<OptimRow> {
    let entry = registry::find(name)?;
    let kv = hparams(name);
    let req = Request {
        hparams: &kv,
        ..Request::default()
    };
    let Some(per_param) = entry.recipe.bytes_per_element(&req)? else {
        bail!("{name} is not a fused elementwise optimizer");
    };
    let mut params = ParamSet::new(engine, &flat_specs(n))?;
    fill(&mut params)?;
    let mut driver = entry.recipe.build(&params, &req)?;
    if let Driver::AdaHessian(a) = &mut driver {
        for s in params.layout().slots.clone() {
            a.write_hvp(&params, &s.name, &vec![0.5; s.len])?;
        }
    }
    let (update, guard) = time_steps(&mut driver, &mut params, repeats)?;
    let update_ns = median(update);
    let padded: usize = params.layout().chunk_lens.iter().sum();
    let bytes = (per_param * padded) as f64;
    // CPU reference, same tensors (AdaHessian's Hz = the gradient).
    let lens: Vec<usize> = params.layout().slots.iter().map(|s| s.len).collect();
    let mut host: Vec<Vec<f32>> = lens.iter().map(|&l| vec![0.5; l]).collect();
    let grads: Vec<Vec<f32>> = lens.iter().map(|&l| vec![0.25; l]).collect();
    let mut cpu = entry.recipe.reference(params.layout(), &req)?;
    let hvps = matches!(driver, Driver::AdaHessian(_)).then_some(&grads[..]);
    let mut cpu_ns = Vec::new();
    for _ in 0..repeats.min(3) {
        let t = Instant::now();
        cpu.step_with(1.0, &mut host, &grads, hvps)?;
        cpu_ns.push(t.elapsed().as_nanos() as f64);
    }
    let cpu_ns = median(cpu_ns);
    let gbps = bytes / update_ns;
    Ok(OptimRow {
        optimizer: name.into(),
        params: n,
        bytes_per_param: per_param,
        update_us: update_ns / 1e3,
        update_gbps: gbps,
        ratio_to_copy: gbps / copy_gbps,
        guard_us: median(guard) / 1e3,
        dispatches: driver.optimizer().dispatches_per_step(),
        cpu_reference_us: cpu_ns / 1e3,
        cpu_reference_gbps: bytes / cpu_ns,
    })
}
