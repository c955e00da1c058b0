//! Large problems seen only through products: the method of [`super::solver`] without any
//! d × d or (d + m) × (d + m) matrix.
//!
//! A dense [`Problem`] hands over G and ∇²L, and the method forms K, its Frobenius norm, the
//! QR of Gᵀ and an eigen-decomposition of the reduced Hessian: O(d³) a Newton iteration, and
//! d products per iteration for [`super::FromHvp`]. An [`OperatorProblem`] gives G·v, Gᵀ·w and
//! ∇²L·v instead (a GPU-resident problem implements them with kernels, e.g.
//! `wgopt_solvers::constrained::GpuLogistic`), and each quantity of the method is computed
//! from products:
//!
//! | quantity | dense | matrix-free |
//! |---|---|---|
//! | ‖∇²L‖_F, ‖B‖_F, ‖G‖_F (in Ψ, Υ, the accuracy test) | exact | Hutchinson: ‖A‖_F² = E‖A s‖², s ~ N(0, I), `Options::probes` probes |
//! | ξ_G = λ_min(G Gᵀ) (LICQ, Ψ) | eigenvalues of G Gᵀ | Lanczos on w ↦ G(Gᵀw) |
//! | λ_min(ZᵀHZ) (Hessian modification) | QR of Gᵀ, eigenvalues | Lanczos on P H P + σ(I − P), P = I − Gᵀ(GGᵀ)⁻¹G by CG |
//! | K z = b | any [`KktMethod`] | [`KktMethod::GaussianVector`] or [`KktMethod::Minres`] (products only) |
//!
//! What the estimates change: Lanczos's smallest Ritz value is never below λ_min, so with
//! fewer steps than the dimension a barely-negative reduced curvature can go unseen (B is then
//! not modified; the descent test and the penalty updates still guard the step), and a
//! near-LICQ failure can be missed. Hutchinson's estimate has a relative standard deviation
//! ≤ √(2/probes) (0.5 for 8 probes); Ψ and Υ are conservative constants built from
//! Frobenius norms in the first place, so such errors move δ and the inner accuracy target by
//! a small factor and do not change the limit the method converges to.

use super::kkt::{BuiltinKkt, KktOperator, KktSolver};
use super::krylov::{conjugate_gradient, lanczos_min};
use super::problem::Problem;
use super::solver::{check_licq, finite, run, Evaluate, Model, Options, Point, Report};
use crate::random::{self, Distribution, StreamId};
use crate::sketch::dense::{dot, matvec, norm, rmatvec};
use crate::sketch::SolveError;
use ndarray::Array2;
use std::cell::RefCell;

/// Philox stream of the Hutchinson probes and Lanczos starts.
pub const PROBE_STREAM: u32 = 0x5E7C_0020;

/// `min f(x)` subject to `c(x) = 0`, with the derivatives as products. Every method may fail
/// (a GPU product can); the solver passes such errors on.
pub trait OperatorProblem {
    fn name(&self) -> &str;
    /// (d, m).
    fn dims(&self) -> (usize, usize);
    fn x0(&self) -> Vec<f64>;
    fn lambda0(&self) -> Vec<f64> {
        vec![0.0; self.dims().1]
    }
    fn objective(&self, x: &[f64]) -> Result<f64, SolveError>;
    fn gradient(&self, x: &[f64]) -> Result<Vec<f64>, SolveError>;
    fn constraints(&self, x: &[f64]) -> Result<Vec<f64>, SolveError>;
    /// `G(x)·v` (length m) for `v` of length d.
    fn jacobian_product(&self, x: &[f64], v: &[f64]) -> Result<Vec<f64>, SolveError>;
    /// `G(x)ᵀ·w` (length d) for `w` of length m.
    fn jacobian_transpose_product(&self, x: &[f64], w: &[f64]) -> Result<Vec<f64>, SolveError>;
    /// `∇²_x L(x, λ)·v`.
    fn lagrangian_hvp(&self, x: &[f64], lambda: &[f64], v: &[f64]) -> Result<Vec<f64>, SolveError>;
    /// `∇²f(x)·v`: only the authors'-code variant of the merit gradient uses it.
    fn objective_hvp(&self, x: &[f64], v: &[f64]) -> Result<Vec<f64>, SolveError> {
        self.lagrangian_hvp(x, &vec![0.0; self.dims().1], v)
    }
    /// `∇²f(x)` formed densely by the problem itself (e.g. one Gram of the weighted features
    /// on the GPU), when it can ([`forms_objective_hessian`](Self::forms_objective_hessian));
    /// `None` leaves the caller to assemble it from d products.
    fn objective_hessian(&self, _x: &[f64]) -> Option<Result<Array2<f64>, SolveError>> {
        None
    }
    /// Whether [`objective_hessian`](Self::objective_hessian) forms H (cost accounting).
    fn forms_objective_hessian(&self) -> bool {
        false
    }
    /// Relative accuracy of [`objective`](Self::objective) (f64 rounding by default). A
    /// problem evaluated in f32 says so (~1e-6): near the solution the merit function's
    /// decrease falls below that noise, and the line search must not read the noise as
    /// failure.
    fn relative_accuracy(&self) -> f64 {
        f64::EPSILON
    }
}

/// A dense [`Problem`] seen only through products of its matrices: checks the matrix-free
/// method against the dense one on the same test set. The matrices of the last point are
/// kept, so the many products a KKT solve takes at one (x, λ) evaluate the derivatives once.
#[derive(Debug)]
pub struct MatrixFree<'a, P: ?Sized> {
    pub problem: &'a P,
    cache: RefCell<Option<Cached>>,
}

#[derive(Debug)]
struct Cached {
    x: Vec<f64>,
    lambda: Vec<f64>,
    jacobian: Array2<f64>,
    hessian: Option<Array2<f64>>,
    objective_hessian: Option<Array2<f64>>,
}

impl<'a, P: Problem + ?Sized> MatrixFree<'a, P> {
    pub fn new(problem: &'a P) -> Self {
        MatrixFree {
            problem,
            cache: RefCell::new(None),
        }
    }

    /// Runs `f` on the cached matrices at x.
    fn with<T>(&self, x: &[f64], f: impl FnOnce(&mut Cached) -> T) -> T {
        let mut cache = self.cache.borrow_mut();
        if !matches!(cache.as_ref(), Some(c) if c.x == x) {
            *cache = None;
        }
        f(cache.get_or_insert_with(|| Cached {
            x: x.to_vec(),
            lambda: Vec::new(),
            jacobian: self.problem.jacobian(x),
            hessian: None,
            objective_hessian: None,
        }))
    }
}

impl<P: Problem + ?Sized> OperatorProblem for MatrixFree<'_, P> {
    fn name(&self) -> &str {
        self.problem.name()
    }

    fn dims(&self) -> (usize, usize) {
        self.problem.dims()
    }

    fn x0(&self) -> Vec<f64> {
        self.problem.x0()
    }

    fn lambda0(&self) -> Vec<f64> {
        self.problem.lambda0()
    }

    fn objective(&self, x: &[f64]) -> Result<f64, SolveError> {
        Ok(self.problem.objective(x))
    }

    fn gradient(&self, x: &[f64]) -> Result<Vec<f64>, SolveError> {
        Ok(self.problem.gradient(x))
    }

    fn constraints(&self, x: &[f64]) -> Result<Vec<f64>, SolveError> {
        Ok(self.problem.constraints(x))
    }

    fn jacobian_product(&self, x: &[f64], v: &[f64]) -> Result<Vec<f64>, SolveError> {
        Ok(self.with(x, |c| matvec(c.jacobian.view(), v)))
    }

    fn jacobian_transpose_product(&self, x: &[f64], w: &[f64]) -> Result<Vec<f64>, SolveError> {
        Ok(self.with(x, |c| rmatvec(c.jacobian.view(), w)))
    }

    fn lagrangian_hvp(&self, x: &[f64], lambda: &[f64], v: &[f64]) -> Result<Vec<f64>, SolveError> {
        Ok(self.with(x, |c| {
            if c.lambda != lambda {
                c.hessian = None;
                c.lambda = lambda.to_vec();
            }
            let h = c
                .hessian
                .get_or_insert_with(|| self.problem.lagrangian_hessian(x, lambda));
            matvec(h.view(), v)
        }))
    }

    fn objective_hvp(&self, x: &[f64], v: &[f64]) -> Result<Vec<f64>, SolveError> {
        Ok(self.with(x, |c| {
            let h = c
                .objective_hessian
                .get_or_insert_with(|| self.problem.objective_hessian(x));
            matvec(h.view(), v)
        }))
    }
}

/// `K = [[∇²L + shift·I, Gᵀ], [G, 0]]` applied through the problem's products: one Hessian
/// product and one product with G and with Gᵀ per application.
struct OperatorKkt<'a, P: ?Sized> {
    problem: &'a P,
    x: Vec<f64>,
    lambda: Vec<f64>,
    shift: f64,
    d: usize,
}

impl<P: OperatorProblem + ?Sized> KktOperator for OperatorKkt<'_, P> {
    fn dim(&self) -> usize {
        self.d + self.lambda.len()
    }

    fn apply(&self, v: &[f64], out: &mut [f64]) -> Result<(), SolveError> {
        let (d, m) = (self.d, self.lambda.len());
        if v.len() != d + m || out.len() != d + m {
            return Err(SolveError::Dimension(format!(
                "K is {n}×{n}; got vectors of {} and {}",
                v.len(),
                out.len(),
                n = d + m
            )));
        }
        let (vx, vl) = v.split_at(d);
        let hx = self.problem.lagrangian_hvp(&self.x, &self.lambda, vx)?;
        let gtl = self.problem.jacobian_transpose_product(&self.x, vl)?;
        let gx = self.problem.jacobian_product(&self.x, vx)?;
        if hx.len() != d || gtl.len() != d || gx.len() != m {
            return Err(SolveError::Dimension(format!(
                "{}: products of {}, {} and {} entries, want {d}, {d} and {m}",
                self.problem.name(),
                hx.len(),
                gtl.len(),
                gx.len()
            )));
        }
        let (ox, ol) = out.split_at_mut(d);
        for i in 0..self.d {
            ox[i] = hx[i] + self.shift * vx[i] + gtl[i];
        }
        ol.copy_from_slice(&gx);
        Ok(())
    }
}

fn gaussian(seed: u64, slot: usize, draw: u32, len: usize) -> Vec<f64> {
    let mut v = vec![0.0f32; len];
    random::fill(
        Distribution::Gaussian,
        StreamId {
            seed,
            slot: slot as u32,
            draw,
            stream: PROBE_STREAM,
        },
        &mut v,
    );
    v.into_iter().map(f64::from).collect()
}

struct Products<'a, P: ?Sized>(&'a P);

impl<P: OperatorProblem + ?Sized> Evaluate for Products<'_, P> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn dims(&self) -> (usize, usize) {
        self.0.dims()
    }

    fn start(&self) -> (Vec<f64>, Vec<f64>) {
        (self.0.x0(), self.0.lambda0())
    }

    fn relative_accuracy(&self) -> f64 {
        self.0.relative_accuracy()
    }

    fn point(&self, x: &[f64], lambda: &[f64], it: usize) -> Result<Point, SolveError> {
        let p = self.0;
        let (d, m) = p.dims();
        let f = p.objective(x)?;
        let g = p.gradient(x)?;
        let c = p.constraints(x)?;
        if g.len() != d || c.len() != m {
            return Err(SolveError::Dimension(format!(
                "{}: ∇f has {} entries and c {}, want {d} and {m}",
                p.name(),
                g.len(),
                c.len()
            )));
        }
        finite("objective", it, &[f])?;
        finite("gradient", it, &g)?;
        finite("constraints", it, &c)?;
        let gtl = p.jacobian_transpose_product(x, lambda)?;
        if gtl.len() != d {
            return Err(SolveError::Dimension(format!(
                "{}: Gᵀλ has {} entries, want {d}",
                p.name(),
                gtl.len()
            )));
        }
        finite("Jacobian product", it, &gtl)?;
        let grad_l = g.iter().zip(&gtl).map(|(a, b)| a + b).collect();
        Ok(Point { f, grad_l, c })
    }

    fn model(
        &self,
        x: &[f64],
        lambda: &[f64],
        pt: &Point,
        it: usize,
        opts: &Options,
    ) -> Result<Model<'_>, SolveError> {
        let p = self.0;
        let (d, m) = p.dims();
        let at = At {
            p,
            x,
            lambda,
            it,
            d,
            m,
        };
        let norms = Norms::estimate(&at, opts)?;
        let xi_g = if m == 0 {
            1.0
        } else {
            let mut ggt = |w: &[f64]| at.ggt(w);
            let start = gaussian(opts.seed, it, norms.probes() as u32, m);
            lanczos_min(&mut ggt, &start, opts.lanczos_steps.min(m))?
        };
        check_licq(p.name(), m, xi_g, it, opts)?;
        let reduced = if m >= d {
            None
        } else {
            reduced_hessian_min(&at, opts, norms.fro_h, &norms.samples[0].0)?
        };
        let modified = matches!(reduced, Some(l) if l < opts.reduced_hessian_threshold);
        let shift = if modified {
            opts.xi_b + norms.fro_h
        } else {
            0.0
        };
        let fro_b = if modified {
            norms.shifted(shift)
        } else {
            norms.fro_h
        };
        let hgl = if opts.code_merit_gradient {
            at.checked(
                "objective Hessian product",
                p.objective_hvp(x, &pt.grad_l)?,
                d,
            )?
        } else {
            at.hvp(&pt.grad_l)?
        };
        let (fro_g, fro_h) = (norms.fro_g, norms.fro_h);
        Ok(Model {
            xi_g,
            modified,
            fro_b,
            fro_g,
            fro_h,
            fro_k: (fro_b * fro_b + 2.0 * fro_g * fro_g).sqrt(),
            gc: if m > 0 { at.gtw(&pt.c)? } else { vec![0.0; d] },
            hgl,
            ggl: if m > 0 {
                at.gv(&pt.grad_l)?
            } else {
                Vec::new()
            },
            kkt: Box::new(OperatorKkt {
                problem: p,
                x: x.to_vec(),
                lambda: lambda.to_vec(),
                shift,
                d,
            }),
        })
    }
}

/// The problem's products at one iterate (x, λ), each checked for length and finiteness.
struct At<'a, P: ?Sized> {
    p: &'a P,
    x: &'a [f64],
    lambda: &'a [f64],
    it: usize,
    d: usize,
    m: usize,
}

impl<P: OperatorProblem + ?Sized> At<'_, P> {
    fn checked(&self, what: &str, v: Vec<f64>, len: usize) -> Result<Vec<f64>, SolveError> {
        if v.len() != len {
            return Err(SolveError::Dimension(format!(
                "{}: the {what} has {} entries, want {len}",
                self.p.name(),
                v.len()
            )));
        }
        finite(what, self.it, &v)?;
        Ok(v)
    }

    /// ∇²L v.
    fn hvp(&self, v: &[f64]) -> Result<Vec<f64>, SolveError> {
        let hv = self.p.lagrangian_hvp(self.x, self.lambda, v)?;
        self.checked("Hessian product", hv, self.d)
    }

    /// G v.
    fn gv(&self, v: &[f64]) -> Result<Vec<f64>, SolveError> {
        self.checked(
            "Jacobian product",
            self.p.jacobian_product(self.x, v)?,
            self.m,
        )
    }

    /// Gᵀ w.
    fn gtw(&self, w: &[f64]) -> Result<Vec<f64>, SolveError> {
        let gtw = self.p.jacobian_transpose_product(self.x, w)?;
        self.checked("Jacobian-transpose product", gtw, self.d)
    }

    /// G Gᵀ w.
    fn ggt(&self, w: &[f64]) -> Result<Vec<f64>, SolveError> {
        self.gv(&self.gtw(w)?)
    }

    /// P v = v − Gᵀ(GGᵀ)⁻¹G v, the orthogonal projection onto null(G); GGᵀ has
    /// κ ≤ ‖G‖²/ξ_G, so CG to 1e-12 takes O(√κ) products.
    fn project(&self, v: &[f64]) -> Result<Vec<f64>, SolveError> {
        if self.m == 0 {
            return Ok(v.to_vec());
        }
        let mut ggt = |w: &[f64]| self.ggt(w);
        let y = conjugate_gradient(&mut ggt, &self.gv(v)?, 1e-12, 10 * self.m + 100)?;
        let gty = self.gtw(&y)?;
        Ok(v.iter().zip(&gty).map(|(a, b)| a - b).collect())
    }
}

/// Hutchinson estimates of ‖H‖_F and ‖G‖_F from shared Gaussian probes, with the probes and
/// their H products kept for ‖H + shift·I‖_F.
struct Norms {
    fro_h: f64,
    fro_g: f64,
    /// (s, H s) per probe.
    samples: Vec<(Vec<f64>, Vec<f64>)>,
}

impl Norms {
    fn estimate<P: OperatorProblem + ?Sized>(
        at: &At<'_, P>,
        opts: &Options,
    ) -> Result<Norms, SolveError> {
        let probes = opts.probes.max(1);
        let (mut h2, mut g2) = (0.0, 0.0);
        let mut samples = Vec::with_capacity(probes);
        for i in 0..probes {
            let s = gaussian(opts.seed, at.it, i as u32, at.d);
            let hs = at.hvp(&s)?;
            h2 += dot(&hs, &hs);
            g2 += if at.m > 0 {
                norm(&at.gv(&s)?).powi(2)
            } else {
                0.0
            };
            samples.push((s, hs));
        }
        Ok(Norms {
            fro_h: (h2 / probes as f64).sqrt(),
            fro_g: (g2 / probes as f64).sqrt(),
            samples,
        })
    }

    fn probes(&self) -> usize {
        self.samples.len()
    }

    /// ‖H + shift·I‖_F from the same probes.
    fn shifted(&self, shift: f64) -> f64 {
        let b2: f64 = self
            .samples
            .iter()
            .map(|(s, hs)| {
                hs.iter()
                    .zip(s)
                    .map(|(a, b)| (a + shift * b).powi(2))
                    .sum::<f64>()
            })
            .sum();
        (b2 / self.probes() as f64).sqrt()
    }
}

/// λ_min of the reduced Hessian ZᵀHZ by Lanczos on P H P, started from the projected first
/// probe (`None` when that projection vanishes).
fn reduced_hessian_min<P: OperatorProblem + ?Sized>(
    at: &At<'_, P>,
    opts: &Options,
    fro_h: f64,
    probe: &[f64],
) -> Result<Option<f64>, SolveError> {
    // P H P has eigenvalue 0 on range(Gᵀ), and Lanczos finds it from the rounding-level
    // components that CG's inexact projections leave there; σ(I − P) moves those directions
    // to σ ≥ ‖H‖₂ (up to the estimate's error) where they cannot be the smallest. Should σ
    // fall below λ_min(ZᵀHZ), the result is σ, still above the modification threshold, so the
    // decision stands.
    let sigma = 2.0 * fro_h + 1.0;
    let mut php = |v: &[f64]| -> Result<Vec<f64>, SolveError> {
        let pv = at.project(v)?;
        let out = at.project(&at.hvp(&pv)?)?;
        Ok(out
            .iter()
            .zip(v.iter().zip(&pv))
            .map(|(o, (vi, pi))| o + sigma * (vi - pi))
            .collect())
    };
    let start = at.project(probe)?;
    if norm(&start) > 0.0 {
        let steps = opts.lanczos_steps.min(at.d - at.m);
        Ok(Some(lanczos_min(&mut php, &start, steps)?))
    } else {
        Ok(None)
    }
}

/// Solves a matrix-free problem with the built-in KKT solver `opts.method` (the
/// Gaussian-vector sketch or MINRES; the others need K's entries and return a typed error).
pub fn solve_operator<P: OperatorProblem + ?Sized>(
    problem: &P,
    opts: &Options,
) -> Result<Report, SolveError> {
    solve_operator_with(problem, opts, &mut BuiltinKkt::new(opts))
}

/// Solves a matrix-free problem with the caller's KKT solver (it gets a [`KktOperator`]
/// whose `dense()` is `None`).
pub fn solve_operator_with<P: OperatorProblem + ?Sized>(
    problem: &P,
    opts: &Options,
    kkt_solver: &mut dyn KktSolver,
) -> Result<Report, SolveError> {
    run(&Products(problem), opts, kkt_solver)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constrained::logistic::Logistic;
    use crate::constrained::problems::test_set;
    use crate::constrained::solver::Dense;

    /// The matrix-free linearisation against the dense one at each problem's starting point:
    /// ξ_G and the Hessian-modification decision agree (Lanczos runs the full dimension of
    /// G Gᵀ, so ξ_G to rounding: 1e-8 relative; on the logistic problem the reduced Hessian's
    /// 69 dimensions get 40 steps), and the Hutchinson norms are within 25 % with 400 probes
    /// (relative standard deviation of ‖A‖_F² ≤ √(2/400) = 7 %; the bound is 3.5 of those on
    /// the square root's side). K·v agrees with the assembled K to rounding.
    #[test]
    fn estimates_match_the_dense_quantities() {
        let opts = Options {
            probes: 400,
            ..Options::default()
        };
        let mut compared = 0;
        let logistic = Logistic::generate(400, 80, 11);
        let problems = test_set();
        let all = problems
            .iter()
            .map(|tp| tp.problem.as_ref() as &dyn Problem)
            .chain([&logistic as &dyn Problem]);
        for p in all {
            let (x, l) = (p.x0(), p.lambda0());
            let dense = Dense(p);
            let mf = MatrixFree::new(p);
            let free = Products(&mf);
            let (Ok(pt), Ok(ptf)) = (dense.point(&x, &l, 0), free.point(&x, &l, 0)) else {
                continue;
            };
            let (a, b) = match (
                dense.model(&x, &l, &pt, 0, &opts),
                free.model(&x, &l, &ptf, 0, &opts),
            ) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(_), Err(_)) => continue, // both stop (LICQ at x0)
                (a, b) => panic!(
                    "{}: dense {:?} vs matrix-free {:?}",
                    p.name(),
                    a.err(),
                    b.err()
                ),
            };
            let name = p.name();
            assert!(
                (a.xi_g - b.xi_g).abs() <= 1e-8 * a.xi_g.abs().max(1.0),
                "{name}: ξ_G {} vs {}",
                a.xi_g,
                b.xi_g
            );
            assert_eq!(a.modified, b.modified, "{name}: Hessian modification");
            for (what, e, f) in [
                ("‖H‖", a.fro_h, b.fro_h),
                ("‖B‖", a.fro_b, b.fro_b),
                ("‖G‖", a.fro_g, b.fro_g),
                ("‖K‖", a.fro_k, b.fro_k),
            ] {
                assert!(
                    (f - e).abs() <= 0.25 * e + 1e-12,
                    "{name}: {what}_F {e} estimated as {f}"
                );
            }
            let n = a.kkt.dim();
            let v: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5).cos()).collect();
            let (mut ka, mut kb) = (vec![0.0; n], vec![0.0; n]);
            a.kkt.apply(&v, &mut ka).unwrap();
            if !a.modified {
                b.kkt.apply(&v, &mut kb).unwrap();
                let err = ka
                    .iter()
                    .zip(&kb)
                    .map(|(p, q)| (p - q).abs())
                    .fold(0.0, f64::max);
                assert!(err <= 1e-10 * a.fro_k, "{name}: K·v differs by {err}");
            }
            for (e, f) in
                a.gc.iter()
                    .chain(&a.hgl)
                    .chain(&a.ggl)
                    .zip(b.gc.iter().chain(&b.hgl).chain(&b.ggl))
            {
                assert!(
                    (e - f).abs() <= 1e-10 * e.abs().max(1.0),
                    "{name}: merit products"
                );
            }
            compared += 1;
        }
        assert!(compared >= 26, "only {compared} problems compared");
    }
}
