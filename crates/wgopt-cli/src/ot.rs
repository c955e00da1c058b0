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

use crate::arrays::{parse_npy, read_file, read_npz};
use crate::checks::{finite_positive, write_output, NotConverged};
use crate::to_f32;
use anyhow::{bail, Context, Result};
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
    /// Stop at this L1 marginal error. The default sits above f32's floor for the error
    /// (about 1e-6 at small ε); a run that stops improving above --tol ends as "stalled".
    #[arg(long, default_value_t = 1e-5)]
    tol: f64,
    #[arg(long, default_value_t = 1000)]
    max_iter: usize,
    /// Cost between point clouds: `sqeuclidean` (‖x − y‖²) or `pnorm:P` (‖x − y‖_P^P).
    #[arg(long, default_value = "sqeuclidean")]
    metric: String,
    /// ε-scaling: start at this ε (finite, > --eps) and halve per stage down to --eps.
    #[arg(long)]
    eps0: Option<f64>,
    /// Output safetensors file.
    #[arg(long, short)]
    output: PathBuf,
}

/// Named arrays (shape, f32 values).
type Arrays = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Reads every array of a safetensors, .npz or .npy file; sizes a file declares are checked
/// against its real length (and archives expanded through a bound) before any allocation.
fn load(path: &std::path::Path) -> Result<Arrays> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let mut out = Arrays::new();
    match ext {
        "npz" => out.extend(read_npz(path)?),
        "npy" => {
            let bytes = read_file(path)?;
            out.insert(
                "cost".into(),
                parse_npy(&bytes, &path.display().to_string())?,
            );
        }
        _ => {
            let bytes = read_file(path)?;
            let file = SafeTensors::deserialize(&bytes)
                .with_context(|| format!("{} is not a safetensors file", path.display()))?;
            for (name, t) in file.tensors() {
                let v = to_f32(&t, &format!("{}: {name}", path.display()))?;
                out.insert(name, (t.shape().to_vec(), v));
            }
        }
    }
    for (name, (_, v)) in &out {
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            bail!(
                "{}: array `{name}` holds {} at element {i}; the input must be finite",
                path.display(),
                v[i]
            );
        }
    }
    Ok(out)
}

/// Every flag checked before any file is read or any GPU work starts.
fn check_args(args: &OtArgs) -> Result<()> {
    finite_positive("--eps", args.eps)?;
    finite_positive("--tol", args.tol)?;
    if args.max_iter == 0 || args.max_iter > 100_000_000 {
        bail!("--max-iter must be in 1..=100000000, got {}", args.max_iter);
    }
    if let Some(eps0) = args.eps0 {
        finite_positive("--eps0", eps0)?;
        if eps0 <= args.eps {
            bail!(
                "--eps0 must be larger than --eps ({}), got {eps0}",
                args.eps
            );
        }
    }
    if !matches!(args.method.as_str(), "sinkhorn" | "sns") {
        bail!("unknown --method {:?}; known: sinkhorn, sns", args.method);
    }
    parse_metric(&args.metric)?;
    wgopt::scheduler::files::output_target(&args.output)?;
    Ok(())
}

/// `--metric`: None for sqeuclidean, Some(p) for pnorm:P (finite, ≥ 1).
fn parse_metric(metric: &str) -> Result<Option<f32>> {
    match metric {
        "sqeuclidean" => Ok(None),
        other => match other.strip_prefix("pnorm:").map(str::parse::<f32>) {
            Some(Ok(p)) if p.is_finite() && p >= 1.0 => Ok(Some(p)),
            Some(_) => bail!("--metric pnorm:P needs a finite P >= 1, got {other:?}"),
            None => bail!("unknown --metric {other:?}; known: sqeuclidean, pnorm:P"),
        },
    }
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
            (_, Some((_, x)), Some((_, y))) => match parse_metric(metric)? {
                None => CostInput::SqEuclidean { x, y, d },
                Some(p) => CostInput::PNorm { x, y, d, p },
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
) -> Result<(Vec<f32>, Vec<f32>, bool)> {
    let opts = SinkhornOptions {
        tol: args.tol,
        max_iter: args.max_iter,
        eps_scaling: args.eps0.map(|eps0| EpsScaling { eps0, decay: 0.5 }),
        ..SinkhornOptions::new(args.eps)
    };
    let r = sinkhorn(engine, &[problem], &opts)?.remove(0);
    let verdict = if r.converged {
        "converged"
    } else if r.stalled {
        "STALLED (no progress; f32 rounding bounds the marginal error near here)"
    } else {
        "NOT converged"
    };
    println!(
        "{n}×{m}, eps {}: {verdict} after {} iterations, L1 marginal error {:.3e}; ⟨P,C⟩ = {}, entropic {}, KL {}",
        args.eps,
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
        ("stalled", r.stalled.to_string()),
        ("marginal_error", r.marginal_error.to_string()),
        ("cost_linear", r.cost_linear.to_string()),
        ("cost_entropic", r.cost_entropic.to_string()),
        ("cost_kl", r.cost_kl.to_string()),
    ]);
    Ok((r.f, r.g, r.converged))
}

/// Sinkhorn–Newton–Sparse: potentials and metadata.
fn run_sns(
    engine: &Engine,
    problem: OtProblem<'_>,
    args: &OtArgs,
    (n, m): (usize, usize),
    meta: &mut Meta,
) -> Result<(Vec<f32>, Vec<f32>, bool)> {
    let opts = SnsOptions {
        tol: args.tol,
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
    Ok((r.f, r.g, r.converged))
}

pub fn run(args: OtArgs) -> Result<()> {
    check_args(&args)?;
    let arrays = load(&args.input)?;
    let (n, m, d, a, b) =
        problem_arrays(&arrays).with_context(|| args.input.display().to_string())?;
    let problem = OtProblem {
        a: &a,
        b: &b,
        cost: cost_input(&arrays, &args.metric, d)?,
    };
    let engine = Engine::new()?;
    let mut meta: Meta = vec![("eps", args.eps.to_string())];
    let (f, g, converged) = match args.method.as_str() {
        "sinkhorn" => run_sinkhorn(&engine, problem, &args, (n, m), &mut meta)?,
        _ => run_sns(&engine, problem, &args, (n, m), &mut meta)?,
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
    write_output(&args.output, &safetensors::serialize(views, Some(meta))?)?;
    if !converged {
        return Err(NotConverged(format!(
            "the marginal error did not reach --tol {:e}; the potentials were written to {} with \
             converged=false",
            args.tol,
            args.output.display()
        ))
        .into());
    }
    Ok(())
}
