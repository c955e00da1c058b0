//! bench-gpu rows for sketched linear solves: sketch-and-precondition least squares against
//! dense Householder QR (faer, f64, on the host: wgopt has no GPU QR), block Kaczmarz
//! throughput in rows per second, Nyström PCG against plain CG, and the constrained Newton
//! method's time per outer iteration: small dense KKT systems (CPU sketches, LU, GPU block
//! Kaczmarz) and a large matrix-free problem whose features live on the GPU.

use anyhow::Result;
use serde::Serialize;
use std::time::Instant;
use wgopt::reference::constrained::logistic::Logistic;
use wgopt::reference::constrained::{solve, solve_operator, solve_with, KktMethod, Options};
use wgopt::reference::gns::{minimize, GnsOptions, Unconstrained};
use wgopt::reference::sketch::dense::qr_lstsq;
use wgopt::reference::sketch::SketchKind;
use wgopt::solvers::gns::NystromSolve;
use wgopt::solvers::kkt::GpuKkt;
use wgopt::solvers::logistic::GpuLogistic;
use wgopt::solvers::lstsq::{sketch_precondition_lstsq, LstsqOptions};
use wgopt::solvers::nystrom::NystromPcg;
use wgopt::solvers::sketch::BlockSolver;
use wgopt::Engine;

#[derive(Serialize)]
pub struct SketchRow {
    case: String,
    seconds: f64,
    detail: String,
}

fn lcg(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

/// Every sketched-solve row: least squares, Kaczmarz, Nyström, constrained Newton.
pub fn run(quick: bool, software: bool) -> Result<Vec<SketchRow>> {
    let engine = crate::bench::fresh_engine()?;
    let mut rows = least_squares(&engine, quick, software)?;
    rows.push(kaczmarz(&engine, quick, software)?);
    rows.extend(nystrom(&engine, quick, software)?);
    rows.extend(constrained(&engine, quick)?);
    rows.extend(matrix_free(&engine, quick)?);
    rows.push(gns(&engine, quick)?);
    Ok(rows)
}

/// Sketch-and-precondition LSQR with each sketch, and dense QR on the host.
fn least_squares(engine: &Engine, quick: bool, software: bool) -> Result<Vec<SketchRow>> {
    let engine = engine.clone();
    let mut rows = Vec::new();
    // Least squares: the 65536×1024 on a GPU; smaller where the adapter is the CPU.
    let (m, n) = match (quick, software) {
        (true, _) => (4096, 128),
        (false, true) => (16384, 512),
        (false, false) => (65536, 1024),
    };
    let a = lcg(1, m * n);
    let xs = lcg(2, n);
    let b: Vec<f32> = a
        .chunks_exact(n)
        .map(|r| r.iter().zip(&xs).map(|(p, q)| p * q).sum())
        .collect();
    for kind in [
        SketchKind::Srht,
        SketchKind::CountSketch,
        SketchKind::Gaussian,
    ] {
        let t = Instant::now();
        let rep = sketch_precondition_lstsq(
            &engine,
            &a,
            &b,
            m,
            n,
            &LstsqOptions {
                kind,
                seed: 3,
                tol: 1e-8,
                ..Default::default()
            },
        )?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "sketched lstsq {m}×{n} {kind:?}: {secs:.3} s (sketch {:.3}, {:?} of S·A {:.3}, LSQR {:.3}), {} iterations, ‖r‖/‖b‖ {:.1e}",
            rep.sketch_seconds, rep.factor, rep.factor_seconds, rep.solve_seconds, rep.iterations, rep.residual
        );
        rows.push(SketchRow {
            case: format!(
                "sketch-and-precondition LSQR {m}×{n}, {kind:?}, to ‖Aᵀr‖/(‖A‖·‖r‖) ≤ 1e-8"
            ),
            seconds: secs,
            detail: format!(
                "sketch {:.3} s + {:?}(S·A) {:.3} s + LSQR {:.3} s, {} iterations in {} rounds, normal residual {:.1e}, ‖r‖/‖b‖ {:.1e}",
                rep.sketch_seconds, rep.factor, rep.factor_seconds, rep.solve_seconds, rep.iterations, rep.rounds, rep.normal_residual, rep.residual
            ),
        });
    }
    let a64 = ndarray::Array2::from_shape_fn((m, n), |(i, j)| a[i * n + j] as f64);
    let b64: Vec<f64> = b.iter().map(|&v| v as f64).collect();
    let t = Instant::now();
    let x = qr_lstsq(a64.view(), &b64)?;
    let secs = t.elapsed().as_secs_f64();
    println!("dense QR {m}×{n} (faer, f64, host): {secs:.3} s");
    rows.push(SketchRow {
        case: format!("dense Householder QR {m}×{n} (faer, f64, host)"),
        seconds: secs,
        detail: format!("x[0] = {:.6}", x[0]),
    });
    Ok(rows)
}

/// Block Kaczmarz throughput in rows per second.
fn kaczmarz(engine: &Engine, quick: bool, software: bool) -> Result<SketchRow> {
    let engine = engine.clone();
    // Block Kaczmarz throughput.
    let (km, kn, q) = if quick {
        (2048, 128, 32)
    } else if software {
        (8192, 256, 32)
    } else {
        (65536, 1024, 32)
    };
    let ka = lcg(4, km * kn);
    let kb = lcg(5, km);
    let mut solver = BlockSolver::new(&engine, &ka, &kb, km, kn, q, false)?;
    solver.run(0, 16, 1)?;
    let steps = if software { 2000 } else { 20000 };
    let t = Instant::now();
    solver.run(16, steps, 1)?;
    solver.x()?;
    let secs = t.elapsed().as_secs_f64();
    let rps = (steps * q) as f64 / secs;
    println!("block Kaczmarz {km}×{kn}, q = {q}: {steps} steps in {secs:.3} s = {rps:.3e} rows/s");
    Ok(SketchRow {
        case: format!(
            "block Kaczmarz {km}×{kn}, q = {q} (one workgroup, {steps} steps per dispatch)"
        ),
        seconds: secs,
        detail: format!("{rps:.3e} rows/s, {:.1} µs/step", secs / steps as f64 * 1e6),
    })
}

/// Nyström PCG against plain CG on the GPU.
fn nystrom(engine: &Engine, quick: bool, software: bool) -> Result<Vec<SketchRow>> {
    let engine = engine.clone();
    let mut rows = Vec::new();
    // Nyström PCG against plain CG on the GPU and the f64 reference on the CPU: a symmetric
    // PSD matrix with a polynomially decaying spectrum, (A + μI)x = b to 1e-5.
    let nn = if quick {
        256
    } else if software {
        1024
    } else {
        8192
    };
    let (rank, mu) = (if quick { 32 } else { 100 }, 1e-4);
    let bm = lcg(6, nn * nn);
    let mut spd = vec![0f32; nn * nn];
    for i in 0..nn {
        for j in 0..=i {
            let v: f32 = (0..nn)
                .step_by((nn / 256).max(1))
                .map(|k| bm[i * nn + k] * bm[j * nn + k] / ((k + 1) * (k + 1)) as f32)
                .sum();
            spd[i * nn + j] = v;
            spd[j * nn + i] = v;
        }
    }
    let rhs = lcg(7, nn);
    for (label, r) in [("Nyström PCG", rank), ("plain CG", 0)] {
        let t = Instant::now();
        let mut pcg = NystromPcg::new(&engine, &spd, nn, mu, r, 1)?;
        let setup = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let sol = pcg.solve(&rhs, 1e-5, 20_000, 20)?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{label} n = {nn}, ℓ = {r}, μ = {mu}: setup {setup:.3} s, {} iterations in {secs:.3} s",
            sol.iterations
        );
        rows.push(SketchRow {
            case: format!("GPU {label}, n = {nn}, ℓ = {r}, μ = {mu}, to 1e-5"),
            seconds: secs,
            detail: format!(
                "{} iterations, {:.1} µs/iteration, setup (upload + host Nyström factor) {setup:.3} s",
                sol.iterations,
                secs / sol.iterations.max(1) as f64 * 1e6
            ),
        });
    }
    Ok(rows)
}

/// The constrained Newton method's time per outer iteration, KKT systems on the CPU (three
/// solvers) and on the GPU.
fn constrained(engine: &Engine, quick: bool) -> Result<Vec<SketchRow>> {
    let engine = engine.clone();
    let mut rows = Vec::new();
    // Constrained Newton: time per outer iteration on the logistic problem.
    let p = Logistic::generate(
        if quick { 200 } else { 2000 },
        if quick { 20 } else { 100 },
        7,
    );
    for method in [
        KktMethod::Direct,
        KktMethod::Kaczmarz,
        KktMethod::GaussianVector,
    ] {
        let t = Instant::now();
        let r = solve(
            &p,
            &Options {
                method,
                kkt_tol: 1e-8,
                max_iter: 2000,
                ..Options::default()
            },
        )?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "constrained logistic ({method:?}): {} iterations, {:.2} ms/iteration, {} sketch steps",
            r.iterations,
            secs / r.iterations.max(1) as f64 * 1e3,
            r.inner_steps
        );
        rows.push(SketchRow {
            case: format!(
                "exact-AL Newton, constrained logistic d = {}, m = 11, {method:?} KKT solves (CPU)",
                p.a.ncols()
            ),
            seconds: secs,
            detail: format!(
                "{} iterations, {:.2} ms/iteration, {} sketch steps",
                r.iterations,
                secs / r.iterations.max(1) as f64 * 1e3,
                r.inner_steps
            ),
        });
    }
    // The same problem with its KKT systems solved on the GPU (block Kaczmarz, one block of
    // all rows, inside f64 refinement).
    let mut kkt = GpuKkt::new(&engine, 32, 1);
    let t = Instant::now();
    let r = solve_with(
        &p,
        &Options {
            kkt_tol: 1e-8,
            max_iter: 2000,
            ..Options::default()
        },
        &mut kkt,
    )?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "constrained logistic (GPU KKT): {} iterations, {:.2} ms/iteration, {} Kaczmarz steps in {} rounds",
        r.iterations,
        secs / r.iterations.max(1) as f64 * 1e3,
        r.inner_steps,
        kkt.rounds
    );
    rows.push(SketchRow {
        case: format!(
            "exact-AL Newton, constrained logistic d = {}, m = 11, GPU block-Kaczmarz KKT solves",
            p.a.ncols()
        ),
        seconds: secs,
        detail: format!(
            "{} iterations, {:.2} ms/iteration, {} Kaczmarz steps in {} refinement rounds",
            r.iterations,
            secs / r.iterations.max(1) as f64 * 1e3,
            r.inner_steps,
            kkt.rounds
        ),
    });
    Ok(rows)
}

/// A large problem given only as products, features on the GPU or f64 products on the host.
fn matrix_free(engine: &Engine, quick: bool) -> Result<Vec<SketchRow>> {
    let engine = engine.clone();
    let mut rows = Vec::new();
    // A large problem given only as products: the features on the GPU (GpuLogistic), against
    // the same matrix-free method with f64 products on the host; MINRES on K both times.
    let (big_n, big_d) = if quick { (2048, 64) } else { (16384, 512) };
    let big = Logistic::generate(big_n, big_d, 7);
    let opts = Options {
        method: KktMethod::Minres,
        kkt_tol: 1e-5,
        constraint_tol: Some(1e-10),
        max_iter: 200,
        ..Options::default()
    };
    let t = Instant::now();
    let gpu_problem = GpuLogistic::new(&engine, &big)?;
    let upload = t.elapsed().as_secs_f64();
    for (label, on_gpu) in [
        ("GPU-resident features", true),
        ("host f64 products", false),
    ] {
        let t = Instant::now();
        let r = if on_gpu {
            solve_operator(&gpu_problem, &opts)?
        } else {
            solve_operator(&big.products(), &opts)?
        };
        let secs = t.elapsed().as_secs_f64();
        let per = secs / r.iterations.max(1) as f64 * 1e3;
        println!(
            "matrix-free constrained logistic {big_n}×{big_d} ({label}): {} iterations, {per:.2} ms/iteration, {} K products",
            r.iterations, r.inner_steps
        );
        rows.push(SketchRow {
            case: format!(
                "exact-AL Newton, matrix-free constrained logistic N = {big_n}, d = {big_d}, m = 11, MINRES, {label}"
            ),
            seconds: secs,
            detail: format!(
                "{} iterations, {per:.2} ms/iteration, {} K products{}",
                r.iterations,
                r.inner_steps,
                if on_gpu {
                    format!(", {} GPU submits, upload {upload:.3} s", gpu_problem.submits.get())
                } else {
                    String::new()
                }
            ),
        });
    }
    Ok(rows)
}

/// Gradient-normalized smoothness Newton on the unconstrained logistic loss with GPU-resident
/// features: H = Xᵀ·diag(w)·X formed in one submit per iteration, the regularized systems by
/// Nyström PCG.
fn gns(engine: &Engine, quick: bool) -> Result<SketchRow> {
    let (n, d) = if quick { (2048, 64) } else { (16384, 256) };
    let data = Logistic::generate(n, d, 7);
    let problem = GpuLogistic::new(engine, &data)?;
    let mut inner = NystromSolve::new(engine, 16, 1);
    let opts = GnsOptions {
        grad_tol: 1e-6,
        ..GnsOptions::default()
    };
    let t = Instant::now();
    let r = minimize(&Unconstrained(&problem), &mut inner, &opts)?;
    let secs = t.elapsed().as_secs_f64();
    let per = secs / r.iterations.max(1) as f64 * 1e3;
    println!(
        "GNS Newton, logistic {n}×{d} on the GPU: {} iterations, {per:.2} ms/iteration, {} CG iterations",
        r.iterations, inner.iterations
    );
    Ok(SketchRow {
        case: format!("GNS Newton, unconstrained logistic N = {n}, d = {d}, H by one GPU Gram + Nyström PCG (rank 16)"),
        seconds: secs,
        detail: format!(
            "{} iterations, {per:.2} ms/iteration, {} solves, {} CG iterations, {} GPU submits, ‖∇f‖ = {:.1e}",
            r.iterations,
            r.solves,
            inner.iterations,
            problem.submits.get(),
            r.grad_norm
        ),
    })
}

pub fn markdown(rows: &[SketchRow]) -> String {
    let mut md =
        String::from("\n## Sketched linear solves\n\n| case | seconds | detail |\n|---|---|---|\n");
    for r in rows {
        md += &format!("| {} | {:.3} | {} |\n", r.case, r.seconds, r.detail);
    }
    md
}
