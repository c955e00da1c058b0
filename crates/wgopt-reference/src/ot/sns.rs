//! Sinkhorn–Newton–Sparse (Tang et al., ICLR 2024, rebuilt in spec A7) in f64: a Sinkhorn
//! warm-up, then Newton steps on the dual with a sparsified Hessian solved by
//! Jacobi-preconditioned conjugate gradient, and a safeguarded line search.
//!
//! Dual (concave): `D(f, g) = ⟨a, f⟩ + ⟨b, g⟩ − ε Σ P_ij`, `P_ij = exp((f_i + g_j − C_ij)/ε)`;
//! `∇D = (a − P1, b − Pᵀ1)`, whose L1 norm is the marginal error; `−∇²D = H/ε` with
//! `H = [[diag(P1), P], [Pᵀ, diag(Pᵀ1)]]`. The Newton step solves `(M + σI) Δ = ε ∇D` for a
//! sparsified `M` and a shift σ = ‖∇D‖₁^1.5·mean(diag M) ([`SHIFT_POWER`]) that vanishes at
//! the solution: the diagonal blocks stay exact and only entries of P are dropped, so `M`
//! stays diagonally dominant, hence positive semi-definite, whatever is dropped (its null
//! vector (1, −1) is orthogonal to the right-hand side because Σa = Σb).
//!
//! Sparsification rules: [`Sparsify::Safe`] (the default, after RegOT's safe rule: per row,
//! drop the smallest entries while the dropped mass stays ≤ ν·‖∇D‖₁·(P1)ᵢ, so the Hessian error
//! is bounded by the gradient, relative to each row) and [`Sparsify::TopK`] (the paper's rule: keep the k largest per
//! row; the spec's prototype found k < 3 degrades to linear convergence).

use super::cost::Cost;
use super::sinkhorn::{validate, SinkhornOptions};
use crate::RefError;

/// The Newton system's shift is σ = ‖∇D‖₁^SHIFT_POWER · mean(r; c), a Levenberg–Marquardt
/// regularisation (exponents in (0, 2] keep local superlinear convergence under an error
/// bound). The exponent was 1 at first: on near-permutation plans (η = 1000, n = 64) the dual's
/// Hessian has eigenvalues far below mean(diag), the shift dominated them, and Newton
/// converged only linearly (×0.75 per step, 22 steps to 1e-6 where 1.5 needs 11). 1.5 keeps
/// the damping that the hard starts (η = 1000 after 20 warm-up sweeps, error 0.15) need.
pub const SHIFT_POWER: f64 = 1.5;

/// How the Hessian's off-diagonal block is sparsified.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sparsify {
    /// Per row, drop the smallest entries of total mass ≤ ν·‖∇D‖₁·(P1)ᵢ.
    Safe { nu: f64 },
    /// The GPU's form of the safe rule ([`binned_cut`]): the same budget, met by dropping whole
    /// log-mass bins instead of single entries (no sort on the GPU), and at most `cap` kept
    /// entries per row (so the CSR buffers have a fixed size).
    Binned { nu: f64, cap: usize },
    /// Keep the k largest entries per row.
    TopK { k: usize },
}

/// Log-mass bins of the binned safe rule: an entry's bin is ⌊−ln(P_ij/(P1)_i)/width⌋, clamped to
/// the last bin, which gathers everything below e^(−width·(BINS−1)) of the row. WGSL twin:
/// `shaders/ot/sns_common.wgsl` (the same constants).
pub const SNS_BINS: usize = 32;
pub const SNS_BIN_WIDTH: f64 = 0.5;

/// The bin of an entry with log-ratio `l = ln(P_ij/(P1)_i)` (≤ 0 up to rounding).
pub fn sns_bin(l: f64) -> usize {
    let b = (-l / SNS_BIN_WIDTH).floor();
    if b.is_nan() || b <= 0.0 {
        0
    } else {
        (b as usize).min(SNS_BINS - 1)
    }
}

/// The binned safe rule for one row from its histogram (mass relative to the row sum, count per
/// bin): drops bins from the smallest up while the dropped relative mass stays ≤ `budget`, never
/// the largest non-empty bin, then drops more while more than `cap` entries are kept. Returns
/// the last kept bin and the kept count; `None` when the row is empty.
pub fn binned_cut(mass: &[f64], count: &[u32], budget: f64, cap: usize) -> Option<(usize, usize)> {
    let first = count.iter().position(|&c| c > 0)?;
    let mut last = SNS_BINS - 1;
    let mut dropped = 0.0;
    while last > first && dropped + mass[last] <= budget {
        dropped += mass[last];
        last -= 1;
    }
    let mut kept: usize = count[..=last].iter().map(|&c| c as usize).sum();
    while kept > cap && last > first {
        kept -= count[last] as usize;
        last -= 1;
    }
    Some((last, kept))
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SnsOptions {
    /// Sinkhorn iterations before the Newton stage (N1).
    pub sinkhorn_iterations: usize,
    /// Newton steps at most (N2).
    pub newton_iterations: usize,
    /// Stop at this L1 marginal error.
    pub tol: f64,
    pub sparsify: Sparsify,
    /// CG relative tolerance and iteration cap.
    pub cg_tol: f64,
    pub cg_max: usize,
}

impl Default for SnsOptions {
    fn default() -> Self {
        SnsOptions {
            sinkhorn_iterations: 20,
            newton_iterations: 100,
            tol: 1e-10,
            sparsify: Sparsify::Safe { nu: 0.01 },
            cg_tol: 1e-10,
            cg_max: 1000,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SnsResult {
    pub f: Vec<f64>,
    pub g: Vec<f64>,
    pub sinkhorn_iterations: usize,
    pub newton_iterations: usize,
    /// CG iterations of every Newton step.
    pub cg_iterations: Vec<usize>,
    /// Kept entries of P per row, averaged, at each Newton step.
    pub kept_per_row: Vec<f64>,
    /// L1 marginal error after the warm-up and after each Newton step.
    pub errors: Vec<f64>,
    /// Seconds since the start at each entry of `errors`.
    pub seconds: Vec<f64>,
    pub converged: bool,
}

struct State<'a> {
    c: &'a [f64],
    n: usize,
    m: usize,
    eps: f64,
}

impl State<'_> {
    fn plan(&self, f: &[f64], g: &[f64]) -> Vec<f64> {
        let (n, m) = (self.n, self.m);
        (0..n * m)
            .map(|k| ((f[k / m] + g[k % m] - self.c[k]) / self.eps).exp())
            .collect()
    }

    /// (row sums, column sums) of P.
    fn marginals(&self, p: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (n, m) = (self.n, self.m);
        let mut r = vec![0.0; n];
        let mut c = vec![0.0; m];
        for i in 0..n {
            for j in 0..m {
                r[i] += p[i * m + j];
                c[j] += p[i * m + j];
            }
        }
        (r, c)
    }
}

fn l1(a: &[f64], b: &[f64], r: &[f64], c: &[f64]) -> f64 {
    a.iter().zip(r).map(|(x, y)| (x - y).abs()).sum::<f64>()
        + b.iter().zip(c).map(|(x, y)| (x - y).abs()).sum::<f64>()
}

/// The iterate: potentials, the plan, its marginals and the L1 marginal error.
struct Point {
    f: Vec<f64>,
    g: Vec<f64>,
    p: Vec<f64>,
    r: Vec<f64>,
    cs: Vec<f64>,
    err: f64,
}

impl State<'_> {
    fn point(&self, a: &[f64], b: &[f64], f: Vec<f64>, g: Vec<f64>) -> Point {
        let p = self.plan(&f, &g);
        let (r, cs) = self.marginals(&p);
        let err = l1(a, b, &r, &cs);
        Point {
            f,
            g,
            p,
            r,
            cs,
            err,
        }
    }

    /// Row i of the sparsified off-diagonal block: (column, value).
    fn sparse_row(&self, x: &Point, i: usize, sparsify: Sparsify) -> Vec<(usize, f64)> {
        let (m, c, eps) = (self.m, self.c, self.eps);
        let mut row: Vec<(usize, f64)> = (0..m).map(|j| (j, x.p[i * m + j])).collect();
        row.sort_by(|u, v| v.1.total_cmp(&u.1));
        let keep = match sparsify {
            Sparsify::TopK { k } => k.min(m),
            Sparsify::Binned { nu, cap } => {
                let ln_r = x.r[i].ln();
                let bins: Vec<usize> = (0..m)
                    .map(|j| sns_bin((x.f[i] + x.g[j] - c[i * m + j]) / eps - ln_r))
                    .collect();
                let (mut mass, mut count) = ([0.0; SNS_BINS], [0u32; SNS_BINS]);
                for (j, &b) in bins.iter().enumerate() {
                    mass[b] += x.p[i * m + j] / x.r[i];
                    count[b] += 1;
                }
                let last = binned_cut(&mass, &count, nu * x.err, cap).map_or(0, |(l, _)| l);
                // Keep every entry of the kept bins, in column order (as the GPU's CSR).
                row = (0..m)
                    .filter(|&j| bins[j] <= last && x.r[i] > 0.0)
                    .map(|j| (j, x.p[i * m + j]))
                    .collect();
                row.len()
            }
            Sparsify::Safe { nu } => {
                // The dropped mass of row i stays ≤ ν·‖∇D‖₁·(P1)_i: relative to the row, so
                // thin rows are not emptied, and shrinking with the gradient.
                let budget = nu * x.err * x.r[i];
                let mut dropped = 0.0;
                let mut keep = m;
                while keep > 1 && dropped + row[keep - 1].1 <= budget {
                    dropped += row[keep - 1].1;
                    keep -= 1;
                }
                keep
            }
        };
        row.truncate(keep);
        row
    }

    /// The Newton direction Δ of (M + σI) Δ = ε∇D with M = [[diag(r), S], [Sᵀ, diag(c)]] over
    /// the sparse `rows`, by Jacobi-PCG: (Δ, the right-hand side, CG iterations).
    fn direction(
        &self,
        (a, b): (&[f64], &[f64]),
        x: &Point,
        rows: &[Vec<(usize, f64)>],
        opts: &SnsOptions,
    ) -> (Vec<f64>, Vec<f64>, usize) {
        let (n, eps) = (self.n, self.eps);
        let rhs: Vec<f64> = a
            .iter()
            .zip(&x.r)
            .map(|(u, v)| eps * (u - v))
            .chain(b.iter().zip(&x.cs).map(|(u, v)| eps * (u - v)))
            .collect();
        // A shift proportional to the gradient (RegOT's shifted system): far from the solution,
        // where P is spread thin and the sparsified system ill-conditioned, it damps the step;
        // it vanishes as the error does, so the local convergence stays fast.
        let mean = x.r.iter().chain(&x.cs).sum::<f64>() / (n + self.m) as f64;
        let shift = x.err.powf(SHIFT_POWER) * mean;
        let diag: Vec<f64> =
            x.r.iter()
                .chain(&x.cs)
                .map(|v| v.max(1e-300) + shift)
                .collect();
        let apply = |v: &[f64]| -> Vec<f64> {
            let mut out: Vec<f64> = v.iter().zip(&diag).map(|(u, d)| u * d).collect();
            for (i, row) in rows.iter().enumerate() {
                for &(j, pij) in row {
                    out[i] += pij * v[n + j];
                    out[n + j] += pij * v[i];
                }
            }
            out
        };
        let (delta, its) = pcg(&apply, &rhs, &diag, opts.cg_tol, opts.cg_max);
        (delta, rhs, its)
    }

    /// Line search from α = 1, halving: the first step that lowers the marginal error or,
    /// failing that, satisfies Armijo on the dual (the L1 error is not smooth, the dual is,
    /// and a Newton direction ascends it). `None` when no step is accepted.
    fn line_search(
        &self,
        (a, b): (&[f64], &[f64]),
        x: &Point,
        delta: &[f64],
        rhs: &[f64],
    ) -> Option<Point> {
        let (n, eps) = (self.n, self.eps);
        let dual = |y: &Point| -> f64 {
            a.iter().zip(&y.f).map(|(u, v)| u * v).sum::<f64>()
                + b.iter().zip(&y.g).map(|(u, v)| u * v).sum::<f64>()
                - eps * y.p.iter().sum::<f64>()
        };
        let d0 = dual(x);
        let slope: f64 = rhs.iter().zip(delta).map(|(r, d)| r * d).sum::<f64>() / eps;
        let mut alpha = 1.0;
        while alpha > 1e-6 {
            let step = |v: &[f64], d: &[f64]| -> Vec<f64> {
                v.iter().zip(d).map(|(u, d)| u + alpha * d).collect()
            };
            let y = self.point(a, b, step(&x.f, &delta[..n]), step(&x.g, &delta[n..]));
            if y.err < x.err || dual(&y) > d0 + 1e-4 * alpha * slope {
                return Some(y);
            }
            alpha *= 0.5;
        }
        None
    }
}

/// Sinkhorn–Newton–Sparse from zero potentials.
pub fn sinkhorn_newton_sparse(
    a: &[f64],
    b: &[f64],
    cost: &Cost,
    eps: f64,
    opts: &SnsOptions,
) -> Result<SnsResult, RefError> {
    validate(a, b, cost, eps)?;
    let start = std::time::Instant::now();
    let (n, m) = cost.shape();
    let c = cost.to_dense();
    // Stage 1: Sinkhorn.
    let warm = super::sinkhorn_log(
        a,
        b,
        cost,
        eps,
        &SinkhornOptions {
            tol: 0.0,
            max_iter: opts.sinkhorn_iterations.max(1),
            check_every: usize::MAX,
            eps_scaling: None,
        },
        None,
    )?;
    let st = State { c: &c, n, m, eps };
    let mut x = st.point(a, b, warm.f, warm.g);
    let mut out = SnsResult {
        f: Vec::new(),
        g: Vec::new(),
        sinkhorn_iterations: opts.sinkhorn_iterations.max(1),
        newton_iterations: 0,
        cg_iterations: Vec::new(),
        kept_per_row: Vec::new(),
        errors: vec![x.err],
        seconds: vec![start.elapsed().as_secs_f64()],
        converged: x.err <= opts.tol,
    };
    // Stage 2: Newton steps on the sparsified Hessian.
    for _ in 0..opts.newton_iterations {
        if x.err <= opts.tol {
            break;
        }
        let rows: Vec<Vec<(usize, f64)>> = (0..n)
            .map(|i| st.sparse_row(&x, i, opts.sparsify))
            .collect();
        out.kept_per_row
            .push(rows.iter().map(|r| r.len()).sum::<usize>() as f64 / n as f64);
        let (delta, rhs, cg_its) = st.direction((a, b), &x, &rows, opts);
        out.cg_iterations.push(cg_its);
        let next = st.line_search((a, b), &x, &delta, &rhs);
        out.newton_iterations += 1;
        let accepted = next.is_some();
        if let Some(y) = next {
            x = y;
        }
        out.errors.push(x.err);
        out.seconds.push(start.elapsed().as_secs_f64());
        if !accepted {
            break;
        }
    }
    out.converged = x.err <= opts.tol;
    out.f = x.f;
    out.g = x.g;
    Ok(out)
}

/// Jacobi-preconditioned conjugate gradient from 0: (solution, iterations).
fn pcg(
    apply: &dyn Fn(&[f64]) -> Vec<f64>,
    b: &[f64],
    diag: &[f64],
    tol: f64,
    max: usize,
) -> (Vec<f64>, usize) {
    let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>();
    let mut x = vec![0.0; b.len()];
    let mut r = b.to_vec();
    let mut z: Vec<f64> = r.iter().zip(diag).map(|(r, d)| r / d).collect();
    let mut p = z.clone();
    let mut rz = dot(&r, &z);
    let b_norm = dot(b, b).sqrt();
    for it in 0..max {
        if dot(&r, &r).sqrt() <= tol * b_norm {
            return (x, it);
        }
        let ap = apply(&p);
        let pap = dot(&p, &ap);
        if pap <= 0.0 {
            return (x, it);
        }
        let alpha = rz / pap;
        for k in 0..x.len() {
            x[k] += alpha * p[k];
            r[k] -= alpha * ap[k];
        }
        z = r.iter().zip(diag).map(|(r, d)| r / d).collect();
        let rz2 = dot(&r, &z);
        let beta = rz2 / rz;
        rz = rz2;
        for k in 0..p.len() {
            p[k] = z[k] + beta * p[k];
        }
    }
    (x, max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ot::sinkhorn_log;

    fn assignment_problem(n: usize, seed: u64) -> (Vec<f64>, Cost) {
        let mut s = seed;
        let c: Vec<f64> = (0..n * n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect();
        (vec![1.0 / n as f64; n], Cost::Dense { n, m: n, c })
    }

    /// Spec A7: on a random assignment problem (n = 80, C ~ U[0,1], η = 1/ε = 200) SNS reaches an
    /// L1 marginal error of 1e-10 in 20 Sinkhorn + a few Newton steps, where plain Sinkhorn needs
    /// orders of magnitude more iterations; both give the same potentials (after centring).
    #[test]
    fn sns_converges_fast_to_sinkhorns_answer() {
        let (w, cost) = assignment_problem(80, 3);
        let eps = 1.0 / 200.0;
        let sns = sinkhorn_newton_sparse(&w, &w, &cost, eps, &SnsOptions::default()).unwrap();
        assert!(sns.converged, "errors {:?}", sns.errors);
        assert!(
            sns.newton_iterations <= 30,
            "{} Newton steps",
            sns.newton_iterations
        );
        let long = sinkhorn_log(
            &w,
            &w,
            &cost,
            eps,
            &SinkhornOptions {
                tol: 1e-10,
                max_iter: 200_000,
                check_every: 10,
                eps_scaling: None,
            },
            None,
        )
        .unwrap();
        assert!(long.converged);
        println!(
            "n = 80, η = 200, to L1 error 1e-10: Sinkhorn {} iterations; SNS {} Sinkhorn + {} Newton \
             (CG iterations {:?}, kept per row {:?})",
            long.iterations,
            sns.sinkhorn_iterations,
            sns.newton_iterations,
            sns.cg_iterations,
            sns.kept_per_row
        );
        assert!(
            long.iterations > 20 * (sns.sinkhorn_iterations + sns.newton_iterations),
            "Sinkhorn {} vs SNS {} + {}",
            long.iterations,
            sns.sinkhorn_iterations,
            sns.newton_iterations
        );
        // Potentials are defined up to (f + t, g − t): compare after centring f.
        let shift = |f: &[f64]| f.iter().sum::<f64>() / f.len() as f64;
        let (t1, t2) = (shift(&sns.f), shift(&long.f));
        for (x, y) in sns.f.iter().zip(&long.f) {
            assert!(((x - t1) - (y - t2)).abs() < 1e-8, "{x} vs {y}");
        }
        for (x, y) in sns.g.iter().zip(&long.g) {
            assert!(((x + t1) - (y + t2)).abs() < 1e-8, "{x} vs {y}");
        }
    }

    /// The spec's prototype: keeping only 2 entries per row converges linearly; the safe
    /// default (which keeps ≥ 3 here) does not degrade that way.
    #[test]
    fn top2_is_slow_and_the_safe_default_is_not() {
        let (w, cost) = assignment_problem(80, 4);
        let eps = 1.0 / 200.0;
        let top2 = SnsOptions {
            sparsify: Sparsify::TopK { k: 2 },
            newton_iterations: 25,
            ..SnsOptions::default()
        };
        let safe = sinkhorn_newton_sparse(&w, &w, &cost, eps, &SnsOptions::default()).unwrap();
        let two = sinkhorn_newton_sparse(&w, &w, &cost, eps, &top2).unwrap();
        println!(
            "safe: {} Newton steps, errors {:?}; top-2: {} steps, errors {:?}",
            safe.newton_iterations, safe.errors, two.newton_iterations, two.errors
        );
        assert!(safe.converged);
        assert!(
            safe.newton_iterations < two.newton_iterations || !two.converged,
            "safe {} steps, top-2 {} steps (converged {})",
            safe.newton_iterations,
            two.newton_iterations,
            two.converged
        );
        let kept = safe.kept_per_row.last().copied().unwrap_or(0.0);
        assert!(
            kept >= 3.0 || safe.newton_iterations <= 15,
            "safe kept {kept} per row"
        );
    }

    /// The GPU's binned form of the safe rule converges as the exact one does: to 1e-10 in a
    /// handful of Newton steps, keeping a few entries per row; with a cap of 2 per row it falls
    /// back to the top-2 rule's slow linear rate.
    #[test]
    fn binned_rule_matches_the_safe_rule() {
        let (w, cost) = assignment_problem(80, 4);
        let eps = 1.0 / 200.0;
        let run = |sparsify| {
            let opts = SnsOptions {
                sparsify,
                newton_iterations: 25,
                ..SnsOptions::default()
            };
            sinkhorn_newton_sparse(&w, &w, &cost, eps, &opts).unwrap()
        };
        let safe = run(Sparsify::Safe { nu: 0.01 });
        let binned = run(Sparsify::Binned { nu: 0.01, cap: 256 });
        let capped = run(Sparsify::Binned { nu: 0.01, cap: 2 });
        println!(
            "safe {} steps kept {:?}; binned {} steps kept {:?}; capped at 2: errors {:?}",
            safe.newton_iterations,
            safe.kept_per_row,
            binned.newton_iterations,
            binned.kept_per_row,
            capped.errors
        );
        assert!(binned.converged, "binned errors {:?}", binned.errors);
        assert!(
            binned.newton_iterations <= safe.newton_iterations + 3,
            "binned {} vs safe {}",
            binned.newton_iterations,
            safe.newton_iterations
        );
        // Whole bins are kept, so never fewer entries than the exact rule keeps.
        for (b, s) in binned.kept_per_row.iter().zip(&safe.kept_per_row) {
            assert!(b + 1e-9 >= *s * 0.9, "binned kept {b} per row, safe {s}");
        }
        assert!(!capped.converged || capped.newton_iterations > binned.newton_iterations);
    }

    #[test]
    fn binned_cut_keeps_the_budget_and_the_cap() {
        let mut mass = [0.0; SNS_BINS];
        let mut count = [0u32; SNS_BINS];
        (mass[0], count[0]) = (0.6, 1);
        (mass[2], count[2]) = (0.3, 3);
        (mass[5], count[5]) = (0.08, 10);
        (mass[31], count[31]) = (0.02, 50);
        assert_eq!(binned_cut(&mass, &count, 0.01, 100), Some((31, 64)));
        assert_eq!(binned_cut(&mass, &count, 0.05, 100), Some((5, 14)));
        assert_eq!(binned_cut(&mass, &count, 0.15, 100), Some((2, 4)));
        // The cap drops bin 2 as well; the last kept bin is then the empty bin 1.
        assert_eq!(binned_cut(&mass, &count, 0.15, 3), Some((1, 1)));
        assert_eq!(binned_cut(&mass, &count, 10.0, 100), Some((0, 1)));
        assert_eq!(binned_cut(&[0.0; SNS_BINS], &[0; SNS_BINS], 0.1, 3), None);
        assert_eq!(sns_bin(0.0), 0);
        assert_eq!(sns_bin(-0.49), 0);
        assert_eq!(sns_bin(-0.5), 1);
        assert_eq!(sns_bin(-1e6), SNS_BINS - 1);
        assert_eq!(sns_bin(1e-7), 0);
    }
}
