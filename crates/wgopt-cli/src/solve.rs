//! `wgopt solve`: a linear system or least-squares problem from a file, on the GPU.
//!
//! Input (safetensors, F32/F16/BF16): `A` (m×n) and `b` (m). Methods:
//! - `lstsq` (default): sketch-and-precondition LSQR for m ≥ n (`--sketch srht|count|gaussian`);
//! - `kaczmarz`: randomised block Kaczmarz for a consistent system (`--block q`, q ≤ 32);
//! - `newton`: randomised block Newton for SPD `A` (m = n);
//! - `sketch-project`: Gaussian sketch-and-project for a consistent system (`--block q`
//!   sketch rows per step, q ≤ 32);
//! - `nystrom`: Nyström-preconditioned CG for `(A + μI)x = b`, `A` symmetric PSD
//!   (`--rank ℓ`, `--mu μ`).
//!
//! Output (safetensors, `x` (n) in F32, or F64 with `--dtype f64`), with metadata: method,
//! iterations, and the residuals *of the x written*, recomputed in f64 on the host from `A`
//! and `b` (‖Ax − b‖/‖b‖, and for `lstsq` ‖Aᵀr‖/(‖A‖_F‖r‖)), beside the solver's own figure
//! (`solver_residual`, which for CG is its recurrence and for lstsq is of its f64 iterate).
//! A run that does not reach `--tol` (cap, stall, or an x whose rounding to f32 loses the
//! accuracy) exits 3; errors exit 1.

use crate::arrays::read_file;
use crate::checks::{finite_non_negative, finite_positive, write_output, NotConverged};
use crate::to_f32;
use anyhow::{bail, Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::path::PathBuf;
use wgopt::reference::sketch::project::{IterOptions, IterSolution};
use wgopt::reference::sketch::{SketchKind, SolveError};
use wgopt::solvers::lstsq::{sketch_precondition_lstsq, LstsqOptions};
use wgopt::solvers::nystrom::NystromPcg;
use wgopt::solvers::sketch::BlockSolver;
use wgopt::solvers::sketch_project::GaussianSketchProject;
use wgopt::{Engine, Error};

#[derive(clap::Args)]
pub struct SolveArgs {
    /// Input: `A` (m×n) and `b` (m).
    input: PathBuf,
    /// `lstsq`, `kaczmarz`, `newton`, `sketch-project` or `nystrom`.
    #[arg(long, default_value = "lstsq")]
    method: String,
    /// Sketch of `lstsq`: `srht`, `count` or `gaussian`.
    #[arg(long, default_value = "srht")]
    sketch: String,
    /// Block size of `kaczmarz` / `newton` (1..=32).
    #[arg(long, default_value_t = 32)]
    block: usize,
    /// Relative residual to reach (lstsq: ‖Aᵀr‖/(‖A‖‖r‖) or ‖r‖/‖b‖). Default: 1e-6 for
    /// lstsq and nystrom (f64 iterates), 1e-5 for kaczmarz, newton and sketch-project, whose
    /// f32 iterates floor near cond(A)·6e-8.
    #[arg(long)]
    tol: Option<f64>,
    /// Step cap of `kaczmarz` / `newton`.
    #[arg(long, default_value_t = 1_000_000)]
    max_steps: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Rank ℓ of the Nyström preconditioner (`nystrom`; 0 is plain CG).
    #[arg(long, default_value_t = 50)]
    rank: usize,
    /// Shift μ of `nystrom`: solves (A + μI)x = b.
    #[arg(long, default_value_t = 0.0)]
    mu: f64,
    /// Element type of the written x: `f32`, or `f64` (the solver's own f64 iterate for
    /// lstsq; the others compute in f32 and their x is exact in either).
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// Output safetensors file.
    #[arg(long, short)]
    output: PathBuf,
}

const METHODS: &str = "lstsq, kaczmarz, newton, sketch-project, nystrom";

/// Every flag checked before any file is read or any GPU work starts.
fn check_args(args: &SolveArgs) -> Result<()> {
    if let Some(t) = args.tol {
        finite_positive("--tol", t)?;
    }
    finite_non_negative("--mu", args.mu)?;
    if args.max_steps == 0 || args.max_steps > 100_000_000 {
        bail!(
            "--max-steps must be in 1..=100000000, got {}",
            args.max_steps
        );
    }
    if !(1..=32).contains(&args.block) {
        bail!("--block must be in 1..=32, got {}", args.block);
    }
    if !METHODS.split(", ").any(|m| m == args.method) {
        bail!("unknown --method {:?}; known: {METHODS}", args.method);
    }
    if !matches!(args.sketch.as_str(), "srht" | "count" | "gaussian") {
        bail!(
            "unknown --sketch {:?}; known: srht, count, gaussian",
            args.sketch
        );
    }
    if !matches!(args.dtype.as_str(), "f32" | "f64") {
        bail!("--dtype must be f32 or f64, got {:?}", args.dtype);
    }
    wgopt::scheduler::files::output_target(&args.output)?;
    Ok(())
}

/// Relative residual ‖(A + μI)x − b‖/‖b‖ (μ only for square systems) and the normal-equation
/// residual ‖Aᵀr‖/(‖A‖_F‖r‖), in f64 from the f32 inputs.
fn true_residuals(a: &[f32], b: &[f32], (m, n): (usize, usize), mu: f64, x: &[f64]) -> (f64, f64) {
    let mut r = vec![0.0f64; m];
    for (i, ri) in r.iter_mut().enumerate() {
        let row = &a[i * n..(i + 1) * n];
        let ax: f64 = row.iter().zip(x).map(|(&aij, &xj)| aij as f64 * xj).sum();
        *ri = ax + if m == n { mu * x[i] } else { 0.0 } - b[i] as f64;
    }
    let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|t| t * t).sum::<f64>().sqrt();
    let (rn, bn) = (
        norm(&mut r.iter().copied()),
        norm(&mut b.iter().map(|&v| v as f64)),
    );
    let an = norm(&mut a.iter().map(|&v| v as f64));
    let mut atr = vec![0.0f64; n];
    for (i, &ri) in r.iter().enumerate() {
        for (j, t) in atr.iter_mut().enumerate() {
            *t += a[i * n + j] as f64 * ri;
        }
    }
    let rel = if bn > 0.0 { rn / bn } else { rn };
    let normal = if an * rn > 0.0 {
        norm(&mut atr.into_iter()) / (an * rn)
    } else {
        0.0
    };
    (rel, normal)
}

/// A solver error, with "did not reach the tolerance" (cap or stall) as [`NotConverged`].
fn solver_error(e: Error) -> anyhow::Error {
    match e {
        Error::Solve(s @ (SolveError::IterationCap { .. } | SolveError::Stalled { .. })) => {
            NotConverged(s.to_string()).into()
        }
        other => other.into(),
    }
}

/// The tolerance: `--tol`, else the method's default (above its f32 floor).
fn tolerance(args: &SolveArgs) -> f64 {
    args.tol.unwrap_or(match args.method.as_str() {
        "lstsq" | "nystrom" => 1e-6,
        _ => 1e-5,
    })
}

pub fn run(args: SolveArgs) -> Result<()> {
    check_args(&args)?;
    let tol = tolerance(&args);
    let input = args.input.display().to_string();
    let bytes = read_file(&args.input)?;
    let file = SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{input} is not a safetensors file"))?;
    let get = |name: &str| -> Result<(Vec<usize>, Vec<f32>)> {
        let t = file
            .tensor(name)
            .with_context(|| format!("{input}: tensor `{name}` is missing"))?;
        let v = to_f32(&t, &format!("{input}: {name}"))?;
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            bail!(
                "{input}: `{name}` holds {} at element {i}; the input must be finite",
                v[i]
            );
        }
        Ok((t.shape().to_vec(), v))
    };
    let (sa, a) = get("A")?;
    let (sb, b) = get("b")?;
    let (m, n) = match sa.as_slice() {
        [m, n] => (*m, *n),
        s => bail!("{input}: `A` has shape {s:?}, expected 2-D"),
    };
    if sb != [m] {
        bail!("{input}: `b` has shape {sb:?}, expected [{m}]");
    }
    let engine = Engine::new()?;
    let mut meta: HashMap<String, String> = HashMap::new();
    meta.insert("method".into(), args.method.clone());
    let x = solve_with(&engine, &args, (&a, &b), (m, n), &mut meta).map_err(solver_error)?;
    let x: Vec<f64> = if args.dtype == "f32" {
        x.iter().map(|&v| v as f32 as f64).collect()
    } else {
        x
    };
    let mu = if args.method == "nystrom" {
        args.mu
    } else {
        0.0
    };
    let (rel, normal) = true_residuals(&a, &b, (m, n), mu, &x);
    println!(
        "x written as {}: ‖r‖/‖b‖ = {rel:.3e}, ‖Aᵀr‖/(‖A‖_F‖r‖) = {normal:.3e} (recomputed in f64)",
        args.dtype
    );
    meta.insert("residual".into(), rel.to_string());
    meta.insert("normal_residual".into(), normal.to_string());
    meta.insert("dtype".into(), args.dtype.clone());
    let xb: Vec<u8> = if args.dtype == "f32" {
        x.iter().flat_map(|&v| (v as f32).to_le_bytes()).collect()
    } else {
        x.iter().flat_map(|&v| v.to_le_bytes()).collect()
    };
    let dtype = if args.dtype == "f32" {
        Dtype::F32
    } else {
        Dtype::F64
    };
    let views = vec![("x".to_string(), TensorView::new(dtype, vec![n], &xb)?)];
    write_output(&args.output, &safetensors::serialize(views, Some(meta))?)?;
    let reached = if args.method == "lstsq" {
        rel.min(normal)
    } else {
        rel
    };
    if reached > tol {
        return Err(NotConverged(format!(
            "the solver stopped at its tolerance, but the x written ({}) has residual {reached:.3e} \
             > --tol {:e}{}; written to {} anyway",
            args.dtype,
            tol,
            if args.dtype == "f32" { " (try --dtype f64)" } else { "" },
            args.output.display()
        ))
        .into());
    }
    Ok(())
}

/// Runs the chosen method; its x in f64, its own figures in `meta` (`solver_residual`).
fn solve_with(
    engine: &Engine,
    args: &SolveArgs,
    (a, b): (&[f32], &[f32]),
    (m, n): (usize, usize),
    meta: &mut HashMap<String, String>,
) -> wgopt::Result<Vec<f64>> {
    Ok(match args.method.as_str() {
        "lstsq" => {
            let kind = match args.sketch.as_str() {
                "srht" => SketchKind::Srht,
                "count" => SketchKind::CountSketch,
                _ => SketchKind::Gaussian,
            };
            let opts = LstsqOptions {
                kind,
                seed: args.seed,
                tol: tolerance(args),
                ..Default::default()
            };
            let r = sketch_precondition_lstsq(engine, a, b, m, n, &opts)?;
            println!(
                "{m}×{n} least squares ({kind:?} sketch): {} LSQR iterations in {} rounds, solver's ‖r‖/‖b‖ = {:.3e}, ‖Aᵀr‖/(‖A‖‖r‖) = {:.3e} (f64 iterate); sketch {:.3} s, {:?} {:.3} s, LSQR {:.3} s",
                r.iterations, r.rounds, r.residual, r.normal_residual, r.sketch_seconds, r.factor, r.factor_seconds, r.solve_seconds
            );
            meta.insert("iterations".into(), r.iterations.to_string());
            meta.insert("solver_residual".into(), r.residual.to_string());
            meta.insert(
                "solver_normal_residual".into(),
                r.normal_residual.to_string(),
            );
            r.x
        }
        "kaczmarz" | "newton" => {
            let mut s = BlockSolver::new(engine, a, b, m, n, args.block, args.method == "newton")?;
            let r = s.solve(&iter_options(args))?;
            report_iterative(&format!("{m}×{n} {}", args.method), &r, meta)
        }
        "sketch-project" => {
            let mut s = GaussianSketchProject::new(engine, a, b, m, n, args.block)?;
            let r = s.solve(&iter_options(args))?;
            let what = format!("{m}×{n} Gaussian sketch-and-project (q = {})", args.block);
            report_iterative(&what, &r, meta)
        }
        _ => {
            if m != n {
                return Err(Error::InvalidInput(format!(
                    "`nystrom` needs a square A, got {m}×{n}"
                )));
            }
            let mut p = NystromPcg::new(engine, a, n, args.mu, args.rank.min(n), args.seed)?;
            let r = p.solve(b, tolerance(args), args.max_steps.min(100_000), 10)?;
            println!(
                "{n}×{n} Nyström PCG (ℓ = {}, μ = {}): {} iterations in {} refinement rounds, ‖r‖/‖b‖ = {:.3e} (f64 iterate)",
                args.rank.min(n),
                args.mu,
                r.iterations,
                r.rounds,
                r.residual
            );
            meta.insert("iterations".into(), r.iterations.to_string());
            meta.insert("solver_residual".into(), r.residual.to_string());
            r.x64
        }
    })
}

/// The stopping rule the command line sets for the iterative methods.
fn iter_options(args: &SolveArgs) -> IterOptions {
    IterOptions {
        tol: tolerance(args),
        max_steps: args.max_steps,
        check_every: 0,
        seed: args.seed,
    }
}

/// Prints an iterative method's outcome, records it in the output's metadata, returns x.
fn report_iterative(what: &str, r: &IterSolution, meta: &mut HashMap<String, String>) -> Vec<f64> {
    println!(
        "{what}: {} steps, solver's ‖r‖/‖b‖ = {:.3e}",
        r.steps, r.residual
    );
    meta.insert("iterations".into(), r.steps.to_string());
    meta.insert("solver_residual".into(), r.residual.to_string());
    r.x.clone()
}
