//! The Newton system's solvers: `K z = b` to the adaptive accuracy the method asks for. K is a
//! [`KktOperator`] (products always, entries when the problem is dense); the built-in
//! [`KktSolver`] runs the paper's sketches (Gaussian vector on products, randomised Kaczmarz
//! and LU on entries) or MINRES, and a caller can plug in another (`wgopt_solvers::kkt::GpuKkt`).

use crate::random::{self, Distribution, StreamId};
use crate::sketch::dense::{dot, lu_solve, norm};
use crate::sketch::SolveError;
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::krylov::minres;
use super::solver::Options;

/// Philox stream of the KKT sketches.
pub const KKT_STREAM: u32 = 0x5E7C_0010;

/// How the Newton system is solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KktMethod {
    /// The paper's GV sketch: s ~ N(0, I), z ← z − (sᵀr)/(‖Kᵀs‖²)·Kᵀs.
    GaussianVector,
    /// The paper's RK sketch: uniform row i, z ← z − r_i/‖K_i‖²·K_iᵀ.
    Kaczmarz,
    /// MINRES on K (Krylov, symmetric indefinite): not the paper's, but the solver of choice
    /// for large matrix-free problems, where a Gaussian-vector step costs two K products and
    /// removes only ~σ_min(K)²/‖K‖_F² of the error.
    Minres,
    /// Dense LU (the comparison the examples print; accuracy test trivially met).
    Direct,
}

/// The Newton system's matrix `K = [[B, Gᵀ], [G, 0]]` ((d + m) × (d + m), symmetric) as a
/// KKT solver sees it: products always, entries when the problem is dense.
pub trait KktOperator {
    fn dim(&self) -> usize;
    /// `out = K·v`.
    fn apply(&self, v: &[f64], out: &mut [f64]) -> Result<(), SolveError>;
    /// K's entries (row-major), for the solvers that need rows or a factorisation.
    fn dense(&self) -> Option<ArrayView2<'_, f64>> {
        None
    }
}

impl KktOperator for Array2<f64> {
    fn dim(&self) -> usize {
        self.nrows()
    }

    fn apply(&self, v: &[f64], out: &mut [f64]) -> Result<(), SolveError> {
        if v.len() != self.ncols() || out.len() != self.nrows() {
            return Err(SolveError::Dimension(format!(
                "K is {:?}; got vectors of {} and {}",
                self.dim(),
                v.len(),
                out.len()
            )));
        }
        for (o, row) in out.iter_mut().zip(self.rows()) {
            *o = row.iter().zip(v).map(|(a, b)| a * b).sum();
        }
        Ok(())
    }

    fn dense(&self) -> Option<ArrayView2<'_, f64>> {
        Some(self.view())
    }
}

/// Runs sketch steps from `z` until ‖r‖ ≤ target or `cap` steps; returns (steps, capped).
/// The residual r = Kz − b is updated incrementally (RK: r −= t·(K²)_{:,i}; GV:
/// r −= t·K(Ks)) and recomputed exactly every 1024 steps against drift.
#[allow(clippy::too_many_arguments)]
fn sketch_steps(
    method: KktMethod,
    k: &dyn KktOperator,
    b: &[f64],
    z: &mut [f64],
    target: f64,
    cap: usize,
    seed: u64,
    outer: usize,
    counter: &mut usize,
) -> Result<(usize, bool), SolveError> {
    let n = b.len();
    let needs_entries = |what: &str| {
        SolveError::Invalid(format!(
            "{what} needs K's entries, and this problem gives only products (use the \
             Gaussian-vector sketch or MINRES)"
        ))
    };
    let exact = |z: &[f64], r: &mut [f64]| -> Result<(), SolveError> {
        k.apply(z, r)?;
        r.iter_mut().zip(b).for_each(|(ri, bi)| *ri -= bi);
        Ok(())
    };
    match method {
        KktMethod::Direct => {
            let kd = k.dense().ok_or_else(|| needs_entries("a direct solve"))?;
            let sol = lu_solve(kd, b)?;
            z.copy_from_slice(&sol);
            return Ok((1, false));
        }
        KktMethod::Minres => return minres_steps(k, b, z, target, cap),
        _ => {}
    }
    // RK's incremental residual needs the columns of K² = KKᵀ.
    let k2 = match method {
        KktMethod::Kaczmarz => {
            let km = k
                .dense()
                .ok_or_else(|| needs_entries("randomised Kaczmarz"))?;
            Some(Array2::from_shape_fn((n, n), |(i, j)| {
                (0..n).map(|l| km[[i, l]] * km[[l, j]]).sum::<f64>()
            }))
        }
        _ => None,
    };
    let mut r = vec![0.0; n];
    exact(z, &mut r)?;
    let mut gv = GaussianVector::new(n);
    let mut steps = 0;
    while dot(&r, &r).sqrt() > target {
        if steps == cap {
            return Ok((steps, true));
        }
        let t = *counter;
        *counter += 1;
        steps += 1;
        match (&k2, k.dense()) {
            (Some(k2), Some(km)) => {
                let w = random::philox4x32_10(
                    [t as u32, outer as u32, 0, KKT_STREAM],
                    random::key(seed),
                );
                kaczmarz_step(km, k2, w[0] as usize % n, z, &mut r);
            }
            _ => {
                let id = StreamId {
                    seed,
                    slot: outer as u32,
                    draw: t as u32,
                    stream: KKT_STREAM,
                };
                gv.step(k, id, z, &mut r)?;
            }
        }
        if steps % 1024 == 0 {
            exact(z, &mut r)?;
            if !r.iter().all(|v| v.is_finite()) {
                return Err(SolveError::NonFinite("the sketch iterate".into()));
            }
        }
    }
    exact(z, &mut r)?;
    Ok((steps, false))
}

/// One randomised Kaczmarz step on row `i` of K: z −= (rᵢ/(K²)ᵢᵢ)·K_{i,:}, and the residual
/// with it, r −= (rᵢ/(K²)ᵢᵢ)·(K²)_{:,i}.
fn kaczmarz_step(km: ArrayView2<f64>, k2: &Array2<f64>, i: usize, z: &mut [f64], r: &mut [f64]) {
    let row_norm = k2[[i, i]];
    if row_norm > 0.0 {
        let step = r[i] / row_norm;
        for j in 0..z.len() {
            z[j] -= step * km[[i, j]];
            r[j] -= step * k2[[j, i]];
        }
    }
}

/// The Gaussian-vector sketch's scratch: the draw s (f32 from Philox, and in f64), Ks, K(Ks).
struct GaussianVector {
    s: Vec<f32>,
    sv: Vec<f64>,
    ks: Vec<f64>,
    kks: Vec<f64>,
}

impl GaussianVector {
    fn new(n: usize) -> Self {
        GaussianVector {
            s: vec![0.0; n],
            sv: vec![0.0; n],
            ks: vec![0.0; n],
            kks: vec![0.0; n],
        }
    }

    /// One step with the Gaussian s of stream `id`: z −= (sᵀr/‖Ks‖²)·Ks, r −= (…)·K(Ks).
    fn step(
        &mut self,
        k: &dyn KktOperator,
        id: StreamId,
        z: &mut [f64],
        r: &mut [f64],
    ) -> Result<(), SolveError> {
        random::fill(Distribution::Gaussian, id, &mut self.s);
        for (a, &v) in self.sv.iter_mut().zip(&self.s) {
            *a = v as f64;
        }
        // Kᵀs = K s (K is symmetric).
        k.apply(&self.sv, &mut self.ks)?;
        let denom = dot(&self.ks, &self.ks);
        if denom > 0.0 {
            let step = dot(&self.sv, r) / denom;
            k.apply(&self.ks, &mut self.kks)?;
            for i in 0..z.len() {
                z[i] -= step * self.ks[i];
                r[i] -= step * self.kks[i];
            }
        }
        Ok(())
    }
}

/// MINRES on the correction `K δ = b − K z`, restarted from the exact residual until it meets
/// `target` or `cap` products (the recurrence's residual estimate drifts from the truth in
/// floating point, so each restart re-anchors it), or until a restart stalls.
fn minres_steps(
    k: &dyn KktOperator,
    b: &[f64],
    z: &mut [f64],
    target: f64,
    cap: usize,
) -> Result<(usize, bool), SolveError> {
    let n = b.len();
    let mut kz = vec![0.0; n];
    let mut steps = 0;
    let mut last = f64::INFINITY;
    loop {
        k.apply(z, &mut kz)?;
        let r: Vec<f64> = b.iter().zip(&kz).map(|(p, q)| p - q).collect();
        if !r.iter().all(|v| v.is_finite()) {
            return Err(SolveError::NonFinite("the MINRES iterate".into()));
        }
        let rn = norm(&r);
        if rn <= target {
            return Ok((steps, false));
        }
        // A restart that gains less than half a digit means the target is below what
        // rounding in K's products allows: stop as if capped, as the sketches do at the cap.
        if steps >= cap || rn > 0.3 * last {
            return Ok((steps, true));
        }
        last = rn;
        let mut op = |v: &[f64]| {
            let mut out = vec![0.0; n];
            k.apply(v, &mut out).map(|()| out)
        };
        // Aim a little below the target so rounding in the estimate does not force a restart.
        let (dz, taken, _) = minres(&mut op, &r, 0.5 * target, cap - steps)?;
        z.iter_mut().zip(&dz).for_each(|(zi, di)| *zi += di);
        steps += taken.max(1);
    }
}

/// Solves the Newton system `K z = b` (K symmetric, (d + m) × (d + m)) to the adaptive
/// accuracy the method asks for. The built-in [`KktMethod`]s implement it, and a caller can
/// supply another, e.g. on the GPU (`wgopt_solvers::kkt::GpuKkt`), through [`super::solve_with`].
pub trait KktSolver {
    /// Improves `z` in place (a warm start: the method continues from the same z after a
    /// failed descent test) until ‖K z − b‖ ≤ `target` or `cap` steps. Returns (steps taken,
    /// whether the cap stopped it). `outer` is the Newton iteration, for seeding.
    fn solve(
        &mut self,
        k: &dyn KktOperator,
        b: &[f64],
        z: &mut [f64],
        target: f64,
        cap: usize,
        outer: usize,
    ) -> Result<(usize, bool), SolveError>;
}

/// The built-in solvers: the paper's sketches on the host in f64, MINRES, or dense LU.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinKkt {
    pub method: KktMethod,
    pub seed: u64,
    /// Sketch draws so far (each outer iteration continues the stream).
    pub counter: usize,
}

impl BuiltinKkt {
    /// `opts.method` with `opts.seed`, from the start of its stream.
    pub fn new(opts: &Options) -> BuiltinKkt {
        BuiltinKkt {
            method: opts.method,
            seed: opts.seed,
            counter: 0,
        }
    }
}

impl KktSolver for BuiltinKkt {
    fn solve(
        &mut self,
        k: &dyn KktOperator,
        b: &[f64],
        z: &mut [f64],
        target: f64,
        cap: usize,
        outer: usize,
    ) -> Result<(usize, bool), SolveError> {
        sketch_steps(
            self.method,
            k,
            b,
            z,
            target,
            cap,
            self.seed,
            outer,
            &mut self.counter,
        )
    }
}
