//! `wgopt ot`: entropic optimal transport from a file, on the GPU.
//!
//! Input (safetensors, F32/F16/BF16): `cost` (n×m) or point clouds `x` (n×d) and `y` (m×d);
//! optional weights `a` (n) and `b` (m), uniform when absent (as POT's empty lists). Output
//! (safetensors, F32): the potentials `f` (n) and `g` (m), with `P_ij = exp((f_i + g_j − C_ij)/ε)`,
//! and metadata: eps, iterations, converged, marginal_error (L1), cost_linear (⟨P,C⟩, POT's
//! `sinkhorn2`), cost_entropic, cost_kl.

use crate::to_f32;
use anyhow::{bail, Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::path::PathBuf;
use wgopt::solvers::ot::{sinkhorn, CostInput, EpsScaling, OtProblem, SinkhornOptions};
use wgopt::Engine;

#[derive(clap::Args)]
pub struct OtArgs {
    /// Input: `cost` (n×m), or `x` (n×d) and `y` (m×d); optional `a`, `b`.
    input: PathBuf,
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

pub fn run(args: OtArgs) -> Result<()> {
    let bytes =
        std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let file = SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{} is not a safetensors file", args.input.display()))?;
    let get = |name: &str| -> Result<Option<(Vec<usize>, Vec<f32>)>> {
        match file.tensor(name) {
            Ok(t) => Ok(Some((t.shape().to_vec(), to_f32(&t, name)?))),
            Err(_) => Ok(None),
        }
    };
    let cost = get("cost")?;
    let (x, y) = (get("x")?, get("y")?);
    let (n, m, d) = match (&cost, &x, &y) {
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
        match get(name)? {
            Some((s, v)) if s == [len] => Ok(v),
            Some((s, _)) => bail!("`{name}` has shape {s:?}, expected [{len}]"),
            None => Ok(vec![1.0 / len as f32; len]),
        }
    };
    let (a, b) = (weights("a", n)?, weights("b", m)?);
    let input = match (&cost, &x, &y) {
        (Some((_, c)), _, _) => CostInput::Dense(c),
        (_, Some((_, x)), Some((_, y))) => match args.metric.as_str() {
            "sqeuclidean" => CostInput::SqEuclidean { x, y, d },
            other => match other.strip_prefix("pnorm:").map(str::parse::<f32>) {
                Some(Ok(p)) => CostInput::PNorm { x, y, d, p },
                _ => bail!("unknown metric {other:?}; known: sqeuclidean, pnorm:P"),
            },
        },
        _ => unreachable!("checked above"),
    };
    let engine = Engine::new()?;
    let opts = SinkhornOptions {
        tol: args.tol,
        max_iter: args.max_iter,
        eps_scaling: args.eps0.map(|eps0| EpsScaling { eps0, decay: 0.5 }),
        ..SinkhornOptions::new(args.eps)
    };
    let r = sinkhorn(
        &engine,
        &[OtProblem {
            a: &a,
            b: &b,
            cost: input,
        }],
        &opts,
    )?
    .remove(0);
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
    let meta: HashMap<String, String> = [
        ("eps", args.eps.to_string()),
        ("iterations", r.iterations.to_string()),
        ("converged", r.converged.to_string()),
        ("marginal_error", r.marginal_error.to_string()),
        ("cost_linear", r.cost_linear.to_string()),
        ("cost_entropic", r.cost_entropic.to_string()),
        ("cost_kl", r.cost_kl.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let (fb, gb): (Vec<u8>, Vec<u8>) = (
        bytemuck::cast_slice(&r.f).to_vec(),
        bytemuck::cast_slice(&r.g).to_vec(),
    );
    let views = vec![
        ("f".to_string(), TensorView::new(Dtype::F32, vec![n], &fb)?),
        ("g".to_string(), TensorView::new(Dtype::F32, vec![m], &gb)?),
    ];
    safetensors::serialize_to_file(views, Some(meta), &args.output)
        .with_context(|| format!("writing {}", args.output.display()))?;
    Ok(())
}
