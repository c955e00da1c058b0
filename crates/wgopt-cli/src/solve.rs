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
//! Output (safetensors, F32): `x` (n), with metadata: method, iterations, residual
//! (‖Ax − b‖/‖b‖) and, for `lstsq`, the normal-equation residual and the time split.

use crate::to_f32;
use anyhow::{bail, Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::path::PathBuf;
use wgopt::reference::sketch::project::{IterOptions, IterSolution};
use wgopt::reference::sketch::SketchKind;
use wgopt::solvers::lstsq::{sketch_precondition_lstsq, LstsqOptions};
use wgopt::solvers::nystrom::NystromPcg;
use wgopt::solvers::sketch::BlockSolver;
use wgopt::solvers::sketch_project::GaussianSketchProject;
use wgopt::Engine;

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
    /// Relative residual to reach (lstsq: ‖Aᵀr‖/(‖A‖‖r‖) or ‖r‖/‖b‖).
    #[arg(long, default_value_t = 1e-6)]
    tol: f64,
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
    /// Output safetensors file.
    #[arg(long, short)]
    output: PathBuf,
}

pub fn run(args: SolveArgs) -> Result<()> {
    let bytes =
        std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let file = SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{} is not a safetensors file", args.input.display()))?;
    let get = |name: &str| -> Result<(Vec<usize>, Vec<f32>)> {
        let t = file
            .tensor(name)
            .with_context(|| format!("tensor `{name}` is missing"))?;
        Ok((t.shape().to_vec(), to_f32(&t, name)?))
    };
    let (sa, a) = get("A")?;
    let (sb, b) = get("b")?;
    let (m, n) = match sa.as_slice() {
        [m, n] => (*m, *n),
        s => bail!("`A` has shape {s:?}, expected 2-D"),
    };
    if sb != [m] {
        bail!("`b` has shape {sb:?}, expected [{m}]");
    }
    let engine = Engine::new()?;
    let mut meta: HashMap<String, String> = HashMap::new();
    meta.insert("method".into(), args.method.clone());
    let x: Vec<f32> = match args.method.as_str() {
        "lstsq" => {
            let kind = match args.sketch.as_str() {
                "srht" => SketchKind::Srht,
                "count" => SketchKind::CountSketch,
                "gaussian" => SketchKind::Gaussian,
                other => bail!("unknown sketch {other:?}; known: srht, count, gaussian"),
            };
            let r = sketch_precondition_lstsq(
                &engine,
                &a,
                &b,
                m,
                n,
                &LstsqOptions {
                    kind,
                    seed: args.seed,
                    tol: args.tol,
                    ..Default::default()
                },
            )?;
            println!(
                "{m}×{n} least squares ({kind:?} sketch): {} LSQR iterations in {} rounds, ‖r‖/‖b‖ = {:.3e}, ‖Aᵀr‖/(‖A‖‖r‖) = {:.3e}; sketch {:.3} s, {:?} {:.3} s, LSQR {:.3} s",
                r.iterations, r.rounds, r.residual, r.normal_residual, r.sketch_seconds, r.factor, r.factor_seconds, r.solve_seconds
            );
            meta.insert("iterations".into(), r.iterations.to_string());
            meta.insert("residual".into(), r.residual.to_string());
            meta.insert("normal_residual".into(), r.normal_residual.to_string());
            r.x.iter().map(|&v| v as f32).collect()
        }
        "kaczmarz" | "newton" => {
            let mut s =
                BlockSolver::new(&engine, &a, &b, m, n, args.block, args.method == "newton")?;
            let r = s.solve(&iter_options(&args))?;
            report_iterative(&format!("{m}×{n} {}", args.method), &r, &mut meta)
        }
        "sketch-project" => {
            let mut s = GaussianSketchProject::new(&engine, &a, &b, m, n, args.block)?;
            let r = s.solve(&iter_options(&args))?;
            let what = format!("{m}×{n} Gaussian sketch-and-project (q = {})", args.block);
            report_iterative(&what, &r, &mut meta)
        }
        "nystrom" => {
            if m != n {
                bail!("`nystrom` needs a square A, got {m}×{n}");
            }
            let mut p = NystromPcg::new(&engine, &a, n, args.mu, args.rank.min(n), args.seed)?;
            let cap = args.max_steps.min(100_000);
            let r = p.solve(&b, args.tol, cap, 10)?;
            println!(
                "{n}×{n} Nyström PCG (ℓ = {}, μ = {}): {} iterations, ‖r‖/‖b‖ = {:.3e}",
                args.rank.min(n),
                args.mu,
                r.iterations,
                r.residual
            );
            meta.insert("iterations".into(), r.iterations.to_string());
            meta.insert("residual".into(), r.residual.to_string());
            r.x
        }
        other => bail!(
            "unknown method {other:?}; known: lstsq, kaczmarz, newton, sketch-project, nystrom"
        ),
    };
    let xb: Vec<u8> = bytemuck::cast_slice(&x).to_vec();
    let views = vec![("x".to_string(), TensorView::new(Dtype::F32, vec![n], &xb)?)];
    safetensors::serialize_to_file(views, Some(meta), &args.output)
        .with_context(|| format!("writing {}", args.output.display()))?;
    Ok(())
}

/// The stopping rule the command line sets for the iterative methods.
fn iter_options(args: &SolveArgs) -> IterOptions {
    IterOptions {
        tol: args.tol,
        max_steps: args.max_steps,
        check_every: 0,
        seed: args.seed,
    }
}

/// Prints an iterative method's outcome, records it in the output's metadata, returns x.
fn report_iterative(what: &str, r: &IterSolution, meta: &mut HashMap<String, String>) -> Vec<f32> {
    println!("{what}: {} steps, ‖r‖/‖b‖ = {:.3e}", r.steps, r.residual);
    meta.insert("iterations".into(), r.steps.to_string());
    meta.insert("residual".into(), r.residual.to_string());
    r.x.iter().map(|&v| v as f32).collect()
}
