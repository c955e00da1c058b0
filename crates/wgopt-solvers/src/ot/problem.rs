//! A transport problem's inputs, their validation, and the batch's layout on the GPU.

use bytemuck::{Pod, Zeroable};
use wgopt_scheduler::kernel::WgslStruct;
use wgopt_scheduler::{Engine, Error, Result};

/// Where a problem's cost comes from.
#[derive(Debug, Clone, Copy)]
pub enum CostInput<'a> {
    /// Row-major n×m.
    Dense(&'a [f32]),
    /// `‖xᵢ − yⱼ‖²` between rows of x (n×d) and y (m×d), evaluated in the kernels.
    SqEuclidean {
        x: &'a [f32],
        y: &'a [f32],
        d: usize,
    },
    /// `‖xᵢ − yⱼ‖_p^p`, p ≥ 1.
    PNorm {
        x: &'a [f32],
        y: &'a [f32],
        d: usize,
        p: f32,
    },
}

impl CostInput<'_> {
    fn kind(&self) -> u32 {
        match self {
            CostInput::Dense(_) => 0,
            CostInput::SqEuclidean { .. } => 1,
            CostInput::PNorm { .. } => 2,
        }
    }
}

/// One transport problem: source weights `a` (n), target weights `b` (m), the cost.
#[derive(Debug, Clone, Copy)]
pub struct OtProblem<'a> {
    pub a: &'a [f32],
    pub b: &'a [f32],
    pub cost: CostInput<'a>,
}

/// One problem of the batch. WGSL twin: `OtProblem` in shaders/ot/sinkhorn_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
#[wgsl(name = "OtProblem")]
pub struct OtProblemGpu {
    pub n: u32,
    pub m: u32,
    pub d: u32,
    pub live: u32,
    pub cost_off: u32,
    pub costt_off: u32,
    pub la_off: u32,
    pub lb_off: u32,
    pub f_off: u32,
    pub g_off: u32,
    pub eps: f32,
    pub p: f32,
}

/// Bad data: marginals, costs, points, potentials.
pub(crate) fn bad(msg: String) -> Error {
    Error::InvalidInput(msg)
}

/// A bad solver setting: ε, iteration counts, tolerances.
pub(crate) fn bad_option(msg: String) -> Error {
    Error::InvalidHyperparameter(msg)
}

fn validate(k: usize, q: &OtProblem) -> Result<(usize, usize, usize)> {
    let (n, m) = (q.a.len(), q.b.len());
    if n == 0 || m == 0 {
        return Err(bad(format!(
            "problem {k}: empty marginals ({n} and {m} weights)"
        )));
    }
    for (name, w) in [("a", q.a), ("b", q.b)] {
        if let Some(i) = w.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(bad(format!(
                "problem {k}: {name}[{i}] = {} must be positive and finite",
                w[i]
            )));
        }
    }
    let (sa, sb): (f64, f64) = (
        q.a.iter().map(|&v| v as f64).sum(),
        q.b.iter().map(|&v| v as f64).sum(),
    );
    if (sa - sb).abs() > 1e-5 * sa.max(sb) {
        return Err(bad(format!(
            "problem {k}: marginals of different mass, Σa = {sa}, Σb = {sb}"
        )));
    }
    let d = match q.cost {
        CostInput::Dense(c) => {
            if c.len() != n * m {
                return Err(Error::ShapeMismatch {
                    name: format!("problem {k} cost"),
                    expected: format!("{n}×{m} = {} values", n * m),
                    got: format!("{} values", c.len()),
                });
            }
            if let Some(i) = c.iter().position(|v| !v.is_finite()) {
                return Err(bad(format!(
                    "problem {k}: cost[{}, {}] is not finite",
                    i / m,
                    i % m
                )));
            }
            0
        }
        CostInput::SqEuclidean { x, y, d } | CostInput::PNorm { x, y, d, .. } => {
            if d == 0 || x.len() != n * d || y.len() != m * d {
                return Err(Error::ShapeMismatch {
                    name: format!("problem {k} point clouds"),
                    expected: format!("x: {n}×d, y: {m}×d with d ≥ 1 (d = {d})"),
                    got: format!("{} and {} values", x.len(), y.len()),
                });
            }
            if x.iter().chain(y).any(|v| !v.is_finite()) {
                return Err(bad(format!(
                    "problem {k}: a point coordinate is not finite"
                )));
            }
            if let CostInput::PNorm { p, .. } = q.cost {
                if p.is_nan() || p < 1.0 {
                    return Err(bad(format!("problem {k}: p must be >= 1, got {p}")));
                }
            }
            d
        }
    };
    Ok((n, m, d))
}

/// A batch laid out for the GPU: the problem table, the cost data (dense C then Cᵀ, or the two
/// point clouds, per problem), log a and log b per problem, and the potentials' length.
pub(crate) struct Packed {
    pub gpu: Vec<OtProblemGpu>,
    pub cost: Vec<f32>,
    pub logw: Vec<f32>,
    pub pot_len: usize,
    pub max_n: usize,
    pub max_m: usize,
    pub kind: u32,
}

/// Validates and lays out a batch (all problems with the same kind of cost) at `eps`.
pub(crate) fn pack(engine: &Engine, problems: &[OtProblem], eps: f64) -> Result<Packed> {
    if problems.is_empty() {
        return Err(bad("no problems given".into()));
    }
    if eps.is_nan() || eps <= 0.0 || !eps.is_finite() {
        return Err(bad_option(format!("eps must be > 0 and finite, got {eps}")));
    }
    let kind = problems[0].cost.kind();
    let mut gpu = Vec::with_capacity(problems.len());
    let (mut cost, mut logw) = (Vec::<f32>::new(), Vec::<f32>::new());
    let mut pot_len = 0usize;
    let (mut max_n, mut max_m) = (0usize, 0usize);
    for (k, q) in problems.iter().enumerate() {
        if q.cost.kind() != kind {
            return Err(bad(
                "every problem of one batch needs the same kind of cost (dense or points)".into(),
            ));
        }
        let (n, m, d) = validate(k, q)?;
        let cost_off = cost.len();
        let costt_off;
        let mut p = 2.0;
        match q.cost {
            CostInput::Dense(c) => {
                cost.extend_from_slice(c);
                costt_off = cost.len();
                for j in 0..m {
                    cost.extend((0..n).map(|i| c[i * m + j]));
                }
            }
            CostInput::SqEuclidean { x, y, .. } | CostInput::PNorm { x, y, .. } => {
                if let CostInput::PNorm { p: pp, .. } = q.cost {
                    p = pp;
                }
                cost.extend_from_slice(x);
                costt_off = cost.len();
                cost.extend_from_slice(y);
            }
        }
        let la_off = logw.len();
        logw.extend(q.a.iter().map(|v| v.ln()));
        let lb_off = logw.len();
        logw.extend(q.b.iter().map(|v| v.ln()));
        gpu.push(OtProblemGpu {
            n: n as u32,
            m: m as u32,
            d: d as u32,
            live: 1,
            cost_off: cost_off as u32,
            costt_off: costt_off as u32,
            la_off: la_off as u32,
            lb_off: lb_off as u32,
            f_off: pot_len as u32,
            g_off: (pot_len + n) as u32,
            eps: eps as f32,
            p,
        });
        pot_len += n + m;
        max_n = max_n.max(n);
        max_m = max_m.max(m);
    }
    let limit = engine.chunk_bytes();
    let cost_bytes = cost.len() as u64 * 4;
    if cost_bytes > limit || cost.len() > u32::MAX as usize / 2 {
        return Err(Error::OverLimit {
            what: "Sinkhorn cost data (dense C and Cᵀ, or the point clouds)".into(),
            size: cost_bytes,
            limit,
            unit: "bytes",
        });
    }
    Ok(Packed {
        gpu,
        cost,
        logw,
        pot_len,
        max_n,
        max_m,
        kind,
    })
}
