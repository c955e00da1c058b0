//! `wgopt ot`: entropic optimal transport from a file, on the GPU, by log-domain Sinkhorn
//! (`--method sinkhorn`, the default) or Sinkhorn–Newton–Sparse (`--method sns`).
//!
//! Input: safetensors (F32/F16/BF16), NumPy `.npz` (as `np.savez` writes it; f32 or f64), or a
//! single `.npy` (the cost matrix). Arrays: `cost` (n×m) or point clouds `x` (n×d) and `y`
//! (m×d); optional weights `a` (n) and `b` (m), uniform when absent (as POT's empty lists).
//! Output (safetensors, F32): the potentials `f` (n) and `g` (m), with
//! `P_ij = exp((f_i + g_j − C_ij)/ε)`, and metadata: eps, method, iterations, converged,
//! marginal_error (L1), cost_linear (⟨P,C⟩, POT's `sinkhorn2`), cost_kl, and for Sinkhorn
//! cost_entropic.

use crate::to_f32;
use anyhow::{anyhow, bail, Context, Result};
use ndarray::{ArrayD, IxDyn, OwnedRepr};
use ndarray_npy::{NpzReader, ReadNpyExt};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::path::PathBuf;
use wgopt::solvers::ot::sns::{sinkhorn_newton_sparse, SnsOptions};
use wgopt::solvers::ot::{sinkhorn, CostInput, EpsScaling, OtProblem, SinkhornOptions};
use wgopt::Engine;

#[derive(clap::Args)]
pub struct OtArgs {
    /// Input (.safetensors, .npz or .npy): `cost` (n×m), or `x` (n×d) and `y` (m×d); optional
    /// `a`, `b`. A .npy file is the cost matrix.
    input: PathBuf,
    /// `sinkhorn` (log-domain, batched kernels) or `sns` (Sinkhorn–Newton–Sparse: 20 Sinkhorn
    /// iterations, then sparse Newton steps; for small ε).
    #[arg(long, default_value = "sinkhorn")]
    method: String,
    /// Entropic regularisation ε (POT's `reg`).
    #[arg(long)]
    eps: f64,
    /// Stop at this L1 marginal error.
    #[arg(long, default_value_t = 1e-6)]
    tol: f64,
    #[arg(long, default_value_t = 1000)]
    max_iter: usize,
    /// Cost between point clouds: `sqeuclidean` (‖x − y‖²) or `pnorm:P` (‖x − y‖_P^P).
    #[arg(long, default_value = "sqeuclidean")]
    metric: String,
    /// ε-scaling: start at this ε and halve per stage down to --eps.
    #[arg(long)]
    eps0: Option<f64>,
    /// Output safetensors file.
    #[arg(long, short)]
    output: PathBuf,
}

/// Named arrays (shape, f32 values).
type Arrays = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// An f32 or f64 NumPy array as (shape, f32 values).
fn from_ndarray(
    a: Result<ArrayD<f32>>,
    b: impl FnOnce() -> Result<ArrayD<f64>>,
) -> Result<(Vec<usize>, Vec<f32>)> {
    match a {
        Ok(a) => Ok((a.shape().to_vec(), a.iter().copied().collect())),
        Err(_) => {
            let b = b()?;
            Ok((b.shape().to_vec(), b.iter().map(|&v| v as f32).collect()))
        }
    }
}

/// Reads every array of a safetensors, .npz or .npy file.
fn load(path: &std::path::Path) -> Result<Arrays> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let open = || std::fs::File::open(path).with_context(|| format!("reading {}", path.display()));
    let mut out = Arrays::new();
    match ext {
        "npz" => {
            let mut npz = NpzReader::new(open()?)
                .with_context(|| format!("{} is not an .npz archive", path.display()))?;
            for name in npz.names()? {
                let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
                let f32s = npz
                    .by_name::<OwnedRepr<f32>, IxDyn>(&name)
                    .map_err(|e| anyhow!(e));
                let arr = from_ndarray(f32s, || {
                    npz.by_name::<OwnedRepr<f64>, IxDyn>(&name)
                        .with_context(|| format!("`{key}`: expected an f32 or f64 array"))
                })?;
                out.insert(key, arr);
            }
        }
        "npy" => {
            let f32s = ArrayD::<f32>::read_npy(open()?).map_err(|e| anyhow!(e));
            let arr = from_ndarray(f32s, || {
                ArrayD::<f64>::read_npy(open()?)
                    .with_context(|| format!("{}: expected an f32 or f64 array", path.display()))
            })?;
            out.insert("cost".into(), arr);
        }
        _ => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let file = SafeTensors::deserialize(&bytes)
                .with_context(|| format!("{} is not a safetensors file", path.display()))?;
            for (name, t) in file.tensors() {
                let v = to_f32(&t, &name)?;
                out.insert(name, (t.shape().to_vec(), v));
            }
        }
    }
    Ok(out)
}

/// Metadata of the output file.
type Meta = Vec<(&'static str, String)>;

/// (n, m, point dimension, a, b).
type Shapes = (usize, usize, usize, Vec<f32>, Vec<f32>);

/// The problem's arrays: (n, m, point dimension, a, b) and the cost input built from them.
fn problem_arrays(arrays: &HashMap<String, (Vec<usize>, Vec<f32>)>) -> Result<Shapes> {
    let get = |name: &str| arrays.get(name);
    let (n, m, d) = match (get("cost"), get("x"), get("y")) {
        (Some((s, _)), None, None) if s.len() == 2 => (s[0], s[1], 0),
        (None, Some((sx, _)), Some((sy, _))) if sx.len() == 2 && sy.len() == 2 => {
            if sx[1] != sy[1] {
                bail!("x is {sx:?} and y is {sy:?}: the point dimensions differ");
            }
            (sx[0], sy[0], sx[1])
        }
        _ => bail!("expected a 2-D `cost`, or 2-D point clouds `x` and `y` (and not both)"),
    };
    let weights = |name: &str, len: usize| -> Result<Vec<f32>> {
        match get(name) {
            Some((s, v)) if s == &[len] => Ok(v.clone()),
            Some((s, _)) => bail!("`{name}` has shape {s:?}, expected [{len}]"),
            None => Ok(vec![1.0 / len as f32; len]),
        }
    };
    Ok((n, m, d, weights("a", n)?, weights("b", m)?))
}

/// The cost: dense, or point clouds under `metric`.
fn cost_input<'a>(
    arrays: &'a HashMap<String, (Vec<usize>, Vec<f32>)>,
    metric: &str,
    d: usize,
) -> Result<CostInput<'a>> {
    Ok(
        match (arrays.get("cost"), arrays.get("x"), arrays.get("y")) {
            (Some((_, c)), _, _) => CostInput::Dense(c),
            (_, Some((_, x)), Some((_, y))) => match metric {
                "sqeuclidean" => CostInput::SqEuclidean { x, y, d },
                other => match other.strip_prefix("pnorm:").map(str::parse::<f32>) {
                    Some(Ok(p)) => CostInput::PNorm { x, y, d, p },
                    _ => bail!("unknown metric {other:?}; known: sqeuclidean, pnorm:P"),
                },
            },
            _ => bail!("expected a cost or point clouds"),
        },
    )
}

/// Log-domain Sinkhorn (with ε-scaling from `--eps0`): potentials and metadata.
fn run_sinkhorn(
    engine: &Engine,
    problem: OtProblem<'_>,
    args: &OtArgs,
    (n, m): (usize, usize),
    meta: &mut Meta,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let opts = SinkhornOptions {
        tol: args.tol,
        max_iter: args.max_iter,
        eps_scaling: args.eps0.map(|eps0| EpsScaling { eps0, decay: 0.5 }),
        ..SinkhornOptions::new(args.eps)
    };
    let r = sinkhorn(engine, &[problem], &opts)?.remove(0);
    println!(
        "{n}×{m}, eps {}: {} after {} iterations, L1 marginal error {:.3e}; ⟨P,C⟩ = {}, entropic {}, KL {}",
        args.eps,
        if r.converged { "converged" } else { "NOT converged" },
        r.iterations,
        r.marginal_error,
        r.cost_linear,
        r.cost_entropic,
        r.cost_kl
    );
    meta.extend([
        ("method", "sinkhorn".to_string()),
        ("iterations", r.iterations.to_string()),
        ("converged", r.converged.to_string()),
        ("marginal_error", r.marginal_error.to_string()),
        ("cost_linear", r.cost_linear.to_string()),
        ("cost_entropic", r.cost_entropic.to_string()),
        ("cost_kl", r.cost_kl.to_string()),
    ]);
    Ok((r.f, r.g))
}

/// Sinkhorn–Newton–Sparse: potentials and metadata.
fn run_sns(
    engine: &Engine,
    problem: OtProblem<'_>,
    args: &OtArgs,
    (n, m): (usize, usize),
    meta: &mut Meta,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let opts = SnsOptions {
        tol: args.tol.max(1e-6),
        newton_iterations: args.max_iter,
        ..SnsOptions::default()
    };
    let r = sinkhorn_newton_sparse(engine, &problem, args.eps, &opts)?;
    println!(
        "{n}×{m}, eps {}: {} after {} Sinkhorn + {} Newton steps (CG {:?}), L1 marginal error {:.3e}; ⟨P,C⟩ = {}, KL {}",
        args.eps,
        if r.converged { "converged" } else { "NOT converged" },
        r.sinkhorn_iterations,
        r.newton_iterations,
        r.cg_iterations,
        r.marginal_error,
        r.cost_linear,
        r.cost_kl
    );
    meta.extend([
        ("method", "sns".to_string()),
        (
            "iterations",
            (r.sinkhorn_iterations + r.newton_iterations).to_string(),
        ),
        ("newton_iterations", r.newton_iterations.to_string()),
        ("converged", r.converged.to_string()),
        ("marginal_error", r.marginal_error.to_string()),
        ("cost_linear", r.cost_linear.to_string()),
        ("cost_kl", r.cost_kl.to_string()),
    ]);
    Ok((r.f, r.g))
}

pub fn run(args: OtArgs) -> Result<()> {
    let arrays = load(&args.input)?;
    let (n, m, d, a, b) = problem_arrays(&arrays)?;
    let problem = OtProblem {
        a: &a,
        b: &b,
        cost: cost_input(&arrays, &args.metric, d)?,
    };
    let engine = Engine::new()?;
    let mut meta: Meta = vec![("eps", args.eps.to_string())];
    let (f, g) = match args.method.as_str() {
        "sinkhorn" => run_sinkhorn(&engine, problem, &args, (n, m), &mut meta)?,
        "sns" => run_sns(&engine, problem, &args, (n, m), &mut meta)?,
        other => bail!("unknown method {other:?}; known: sinkhorn, sns"),
    };
    let meta: HashMap<String, String> = meta.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let (fb, gb): (Vec<u8>, Vec<u8>) = (
        bytemuck::cast_slice(&f).to_vec(),
        bytemuck::cast_slice(&g).to_vec(),
    );
    let views = vec![
        ("f".to_string(), TensorView::new(Dtype::F32, vec![n], &fb)?),
        ("g".to_string(), TensorView::new(Dtype::F32, vec![m], &gb)?),
    ];
    safetensors::serialize_to_file(views, Some(meta), &args.output)
        .with_context(|| format!("writing {}", args.output.display()))?;
    Ok(())
}
