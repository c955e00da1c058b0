//! Gradient-normalized smoothness Newton (GNS) against the exact-augmented-Lagrangian Newton
//! method and plain gradient descent on the unconstrained logistic loss of
//! `constrained::logistic` (its seeded data, start θ₀ = 1): iterations, function and Hessian
//! work, final f and ‖∇f‖, and time. GNS runs with the reference's dense f64 Cholesky and with
//! its GPU face (H = Xᵀ·diag(w)·X formed by `GpuLogistic` in one submit, systems by
//! Nyström-preconditioned CG).
//! The exact-AL method gets the same objective with no constraints (m = 0): its merit function
//! is then f itself and its steps are damped Newton steps with a line search.
//!
//! Run: `cargo run --release --example gns [-- --sizes 200x20,4096x128]`.

use std::time::Instant;
use wgopt::reference::constrained::logistic::Logistic;
use wgopt::reference::constrained::{solve, KktMethod, Options, Problem};
use wgopt::reference::gns::{gradient_descent, minimize, DenseCholesky, GnsOptions, Unconstrained};
use wgopt::reference::sketch::dense::norm;
use wgopt::solvers::gns::NystromSolve;
use wgopt::solvers::logistic::GpuLogistic;
use wgopt::Engine;

/// The logistic loss alone, as an m = 0 [`Problem`] for the exact-AL method.
struct LossOnly<'a>(&'a Logistic);

impl Problem for LossOnly<'_> {
    fn name(&self) -> &str {
        "logistic loss"
    }
    fn dims(&self) -> (usize, usize) {
        (self.0.a.ncols(), 0)
    }
    fn x0(&self) -> Vec<f64> {
        Problem::x0(self.0)
    }
    fn objective(&self, x: &[f64]) -> f64 {
        Problem::objective(self.0, x)
    }
    fn gradient(&self, x: &[f64]) -> Vec<f64> {
        Problem::gradient(self.0, x)
    }
    fn constraints(&self, _: &[f64]) -> Vec<f64> {
        Vec::new()
    }
    fn jacobian(&self, x: &[f64]) -> ndarray::Array2<f64> {
        ndarray::Array2::zeros((0, x.len()))
    }
    fn lagrangian_hessian(&self, x: &[f64], _: &[f64]) -> ndarray::Array2<f64> {
        Problem::objective_hessian(self.0, x)
    }
}

fn sizes() -> Vec<(usize, usize)> {
    let args: Vec<String> = std::env::args().collect();
    let spec = args
        .iter()
        .position(|a| a == "--sizes")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| "200x20,4096x128".into());
    spec.split(',')
        .map(|s| {
            let (n, d) = s.split_once('x').expect("--sizes NxD,…");
            (n.parse().expect("N"), d.parse().expect("d"))
        })
        .collect()
}

fn row(name: &str, what: (usize, usize, usize, f64, f64), ms: f64) {
    let (iterations, evaluations, hessian, f, g) = what;
    println!("| {name} | {iterations} | {evaluations} | {hessian} | {f:.12} | {g:.1e} | {ms:.1} |");
}

fn main() {
    let engine = Engine::new().unwrap_or_else(|e| panic!("{e}"));
    println!("adapter: {}\n", engine.adapter());
    for (n, d) in sizes() {
        let data = Logistic::generate(n, d, 7);
        let host = data.products();
        println!("### N = {n}, d = {d}\n");
        println!("| method | iterations | f, ∇f evaluations | Hessians formed | f | ‖∇f‖ | ms |\n|---|---|---|---|---|---|---|");
        let opts = GnsOptions {
            max_iter: 200,
            grad_tol: 1e-8,
            ..GnsOptions::default()
        };
        let t = Instant::now();
        let r = minimize(&Unconstrained(&host), &mut DenseCholesky::default(), &opts).unwrap();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        row(
            "GNS, f64 host, dense Cholesky",
            (
                r.iterations,
                r.evaluations,
                r.hessian_products / d,
                r.f,
                r.grad_norm,
            ),
            ms,
        );
        // f32 products floor ‖∇f‖ near 1e-7·‖X‖: ask the GPU for 1e-6.
        let gpu = GpuLogistic::new(&engine, &data).unwrap();
        let gopts = GnsOptions {
            grad_tol: 1e-6,
            ..opts
        };
        let mut inner = NystromSolve::new(&engine, 16.min(d), 1);
        let t = Instant::now();
        let r = minimize(&Unconstrained(&gpu), &mut inner, &gopts).unwrap();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        // The GPU forms one H per iteration itself (√w·X and its Gram, one submit).
        row(
            &format!(
                "GNS, GPU Hessian (one Gram) + Nyström PCG ({} CG its)",
                inner.iterations
            ),
            (r.iterations, r.evaluations, r.iterations, r.f, r.grad_norm),
            ms,
        );
        let t = Instant::now();
        let al = solve(
            &LossOnly(&data),
            &Options {
                method: KktMethod::Direct,
                kkt_tol: 1e-8,
                max_iter: 200,
                ..Options::default()
            },
        )
        .unwrap();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let g = norm(&Problem::gradient(&data, &al.x));
        row(
            "exact-AL Newton (m = 0, direct KKT solve)",
            (
                al.iterations,
                al.evaluations,
                al.iterations,
                al.objective,
                g,
            ),
            ms,
        );
        let t = Instant::now();
        let gd = gradient_descent(&Unconstrained(&host), 1.0, 20_000, 1e-6).unwrap();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        row(
            "gradient descent (Armijo), to ‖∇f‖ ≤ 1e-6",
            (gd.iterations, gd.evaluations, 0, gd.f, gd.grad_norm),
            ms,
        );
        println!();
    }
}
