//! The exact-augmented-Lagrangian Newton method (Hong, Na, Mahoney & Kolar, ICML 2023) on the
//! whole Hock–Schittkowski / CUTEst test set and a constrained logistic regression: each
//! problem solved with the paper's two sketching KKT solvers (Gaussian vector, randomised
//! Kaczmarz) and with a dense direct solve, in a table of iterations, sketch steps, final
//! objective against the known optimum, constraint violation and time.
//!
//! Then a large constrained logistic regression (`--large N,d`, default 8192,256) solved
//! densely, matrix-free on the host, and matrix-free with its features on the GPU.
//!
//! Run: `cargo run --release --example constrained [-- --paper] [--large N,d]` (`--paper`:
//! the authors' KKT tolerance 1e-4 and merit gradient). Tolerances otherwise follow the test suite: KKT
//! 1e-9; on the degenerate problems (singular reduced Hessian or Jacobian at x*) KKT 1e-6 with
//! ‖c‖∞ ≤ 1e-10 for direct solves and the paper's 1e-4 for sketched ones, which stall near
//! 1e-5 there (see crates/wgopt-reference/tests/constrained.rs).

use std::time::Instant;
use wgopt::reference::constrained::logistic::Logistic;
use wgopt::reference::constrained::problems::{test_set, Expect};
use wgopt::reference::constrained::{solve, solve_operator, KktMethod, Options, Problem};
use wgopt::solvers::logistic::GpuLogistic;
use wgopt::Engine;

fn main() {
    let paper = std::env::args().any(|a| a == "--paper");
    let base = if paper {
        Options {
            max_iter: 3000,
            ..Options::paper()
        }
    } else {
        Options {
            kkt_tol: 1e-9,
            max_iter: 3000,
            ..Options::default()
        }
    };
    println!(
        "| problem | d, m | known f* | method | iterations | sketch steps | f | |f − f*| | ‖c‖∞ | KKT | ms |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut problems: Vec<(Box<dyn Problem>, Option<Expect>, bool)> = test_set()
        .into_iter()
        .map(|t| (t.problem as Box<dyn Problem>, Some(t.expect), t.degenerate))
        .collect();
    problems.push((Box::new(Logistic::generate(200, 20, 7)), None, false));
    let mut solved = [0usize; 3];
    for (p, expect, degenerate) in &problems {
        let (d, m) = p.dims();
        let known = match expect {
            Some(Expect::Optimum(f)) => format!("{f:.10}"),
            Some(Expect::EitherOf(a, b)) => format!("{a:.6} or {b:.6}"),
            Some(Expect::KktPoint) => "KKT point".into(),
            Some(Expect::LicqFails(_)) => "LICQ fails at x*".into(),
            None => "(direct solve)".into(),
        };
        for (mi, method) in [
            KktMethod::GaussianVector,
            KktMethod::Kaczmarz,
            KktMethod::Direct,
        ]
        .into_iter()
        .enumerate()
        {
            let opts = match (paper, *degenerate, method) {
                (true, _, _) | (false, false, _) => Options { method, ..base },
                (false, true, KktMethod::Direct) => Options {
                    method,
                    kkt_tol: 1e-6,
                    constraint_tol: Some(1e-10),
                    max_iter: 3000,
                    ..base
                },
                (false, true, _) => Options {
                    method,
                    kkt_tol: 1e-4,
                    max_iter: 3000,
                    ..base
                },
            };
            let t0 = Instant::now();
            let r = solve(p.as_ref(), &opts);
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            match r {
                Ok(r) => {
                    solved[mi] += 1;
                    let gap = match expect {
                        Some(Expect::Optimum(f)) => format!("{:.1e}", (r.objective - f).abs()),
                        Some(Expect::EitherOf(a, b)) => format!(
                            "{:.1e}",
                            (r.objective - a).abs().min((r.objective - b).abs())
                        ),
                        _ => "—".into(),
                    };
                    println!(
                        "| {} | {d}, {m} | {known} | {method:?} | {} | {} | {:.10} | {gap} | {:.1e} | {:.1e} | {ms:.1} |",
                        p.name(),
                        r.iterations,
                        r.inner_steps,
                        r.objective,
                        r.violation,
                        r.kkt
                    );
                }
                Err(e) => println!(
                    "| {} | {d}, {m} | {known} | {method:?} | — | — | {e} | | | | {ms:.1} |",
                    p.name()
                ),
            }
        }
    }
    println!(
        "\nsolved: Gaussian vector {}/{n}, Kaczmarz {}/{n}, direct {}/{n} (BT8 is expected to stop: LICQ fails at its solution)",
        solved[0],
        solved[1],
        solved[2],
        n = problems.len()
    );
    large_problem(&args_usize("--large", [8192, 256]));
}

/// `--large N,d`: the size of the large logistic problem (default 8192 × 256).
fn args_usize(flag: &str, default: [usize; 2]) -> [usize; 2] {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| {
            let p: Vec<usize> = v.split(',').filter_map(|t| t.parse().ok()).collect();
            (p.len() == 2).then(|| [p[0], p[1]])
        })
        .unwrap_or(default)
}

/// A large constrained logistic regression three ways: dense (the method forms the d × d
/// Hessian from N samples and LU-solves K), matrix-free with f64 products on the host, and
/// matrix-free with the features resident on the GPU (`GpuLogistic`); MINRES on K for the
/// matrix-free runs. KKT 1e-5 (the GPU's f32 gradient floor) with ‖c‖∞ ≤ 1e-10.
fn large_problem([n, d]: &[usize; 2]) {
    let p = Logistic::generate(*n, *d, 7);
    let opts = Options {
        kkt_tol: 1e-5,
        constraint_tol: Some(1e-10),
        max_iter: 200,
        ..Options::default()
    };
    println!(
        "\n## Constrained logistic regression, N = {n}, d = {d}, m = 11\n\n| how | iterations | KKT products | f | ‖c‖∞ | ms/iteration |\n|---|---|---|---|---|---|"
    );
    let row = |how: &str, r: Result<wgopt::reference::constrained::Report, _>, secs: f64| match r {
        Ok(r) => println!(
            "| {how} | {} | {} | {:.10} | {:.1e} | {:.1} |",
            r.iterations,
            r.inner_steps,
            r.objective,
            r.violation,
            secs * 1e3 / r.iterations.max(1) as f64
        ),
        Err(e) => println!("| {how} | — | — | {e} | | |"),
    };
    let t = Instant::now();
    let r = solve(
        &p,
        &Options {
            method: KktMethod::Direct,
            ..opts
        },
    );
    row("dense ∇²L, LU on K (host)", r, t.elapsed().as_secs_f64());
    let free = Options {
        method: KktMethod::Minres,
        ..opts
    };
    let t = Instant::now();
    let r = solve_operator(&p.products(), &free);
    row(
        "matrix-free, f64 products (host)",
        r,
        t.elapsed().as_secs_f64(),
    );
    match Engine::new()
        .map_err(|e| e.to_string())
        .and_then(|engine| GpuLogistic::new(&engine, &p).map_err(|e| e.to_string()))
    {
        Ok(gpu) => {
            let t = Instant::now();
            let r = solve_operator(&gpu, &free);
            row(
                "matrix-free, features on the GPU",
                r,
                t.elapsed().as_secs_f64(),
            );
        }
        Err(e) => {
            println!("| matrix-free, features on the GPU | — | — | no GPU problem: {e} | | |")
        }
    }
}
