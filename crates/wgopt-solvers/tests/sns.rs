//! Sinkhorn–Newton–Sparse on the GPU against the f64 reference (`wgopt_reference::ot::sns`,
//! the binned safe rule the GPU runs, and long Sinkhorn runs). Every SNS kernel runs in the
//! trajectory tests: shaders/ot/sns_marginals.wgsl, sns_summary.wgsl, sns_threshold.wgsl,
//! sns_pattern.wgsl and sns_scan.wgsl (also checked entry by entry in
//! `gpu_pattern_is_the_binned_safe_rule`), sns_setup.wgsl, sns_spmv.wgsl, sns_cg_scalars.wgsl,
//! sns_cg_update.wgsl, sns_cg_direction.wgsl, sns_trial.wgsl and sns_accept.wgsl.
//!
//! Tolerances: the GPU works in f32 and stops at an L1 marginal error of 1e-5. Potentials are
//! compared after fixing the gauge (f + t, g − t) and agree with the converged f64 answer to
//! 20·ε·tol-scale (2e-4 of ε here): a marginal error δ moves a potential by about ε·δ/wᵢ, and
//! the weights are ~1/n.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgopt_reference::ot::{self as refot, Cost};
use wgopt_scheduler::{Engine, Error, StepRecorder};
use wgopt_solvers::ot::sns::{sinkhorn_newton_sparse, SnsOptions, SnsPlan};
use wgopt_solvers::ot::{CostInput, OtProblem};

fn engine() -> Engine {
    Engine::new().unwrap_or_else(|e| panic!("{e}"))
}

fn weights(r: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    let w: Vec<f32> = (0..n).map(|_| r.random_range(0.5f32..1.0)).collect();
    let s: f32 = w.iter().sum();
    w.into_iter().map(|v| v / s).collect()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Weights in f64, renormalised there: Σa and Σb of the f32 weights differ by ~1e-8, which
/// would floor the f64 reference's marginal error.
fn w64(v: &[f32]) -> Vec<f64> {
    let s: f64 = v.iter().map(|&x| x as f64).sum();
    v.iter().map(|&x| x as f64 / s).collect()
}

/// Random assignment-like costs C ~ U[0, 1], n ≠ m, neither a multiple of any workgroup.
fn dense_problem(n: usize, m: usize, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let c: Vec<f32> = (0..n * m).map(|_| r.random_range(0.0f32..1.0)).collect();
    (weights(&mut r, n), weights(&mut r, m), c)
}

/// Largest |Δ| between two potential pairs after centring f.
fn gauge_gap(f: &[f32], g: &[f32], fr: &[f64], gr: &[f64]) -> f64 {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (f, g) = (f64s(f), f64s(g));
    let (t, tr) = (mean(&f), mean(fr));
    let df = f.iter().zip(fr).map(|(x, y)| ((x - t) - (y - tr)).abs());
    let dg = g.iter().zip(gr).map(|(x, y)| ((x + t) - (y + tr)).abs());
    df.chain(dg).fold(0.0, f64::max)
}

/// SNS on the GPU reaches the f32 tolerance in a few Newton steps where Sinkhorn needs
/// orders of magnitude more iterations, and lands on Sinkhorn's converged potentials.
#[test]
fn gpu_sns_converges_to_sinkhorns_answer() {
    let engine = engine();
    let (n, m, eps) = (83, 61, 1.0 / 1000.0);
    let (a, b, c) = dense_problem(n, m, 7);
    let problem = OtProblem {
        a: &a,
        b: &b,
        cost: CostInput::Dense(&c),
    };
    let opts = SnsOptions::default();
    let sns = sinkhorn_newton_sparse(&engine, &problem, eps, &opts).unwrap();
    let cost = Cost::Dense { n, m, c: f64s(&c) };
    // The converged answer: the f64 reference (exact safe rule) to 1e-10, which the reference's
    // own tests show equals a long Sinkhorn run's.
    let long = refot::sinkhorn_newton_sparse(
        &w64(&a),
        &w64(&b),
        &cost,
        eps,
        &refot::SnsOptions::default(),
    )
    .unwrap();
    assert!(long.converged, "reference errors {:?}", long.errors);
    let p_long: f64 = (0..n * m)
        .map(|k| ((long.f[k / m] + long.g[k % m] - c[k] as f64) / eps).exp() * c[k] as f64)
        .sum();
    // Sinkhorn's iterations to the same tolerance as SNS, from the reference's history.
    let sinkhorn_to_tol = refot::sinkhorn_log(
        &w64(&a),
        &w64(&b),
        &cost,
        eps,
        &refot::SinkhornOptions {
            tol: 1e-5,
            max_iter: 100_000,
            check_every: 1,
            eps_scaling: None,
        },
        None,
    )
    .unwrap()
    .iterations;
    println!(
        "n = {n}, m = {m}, η = 1000, to L1 error 1e-5: Sinkhorn {sinkhorn_to_tol} iterations; GPU \
         SNS {} Sinkhorn + {} Newton (CG {:?}, kept per row {:?}, steps {:?}, errors {:?})",
        sns.sinkhorn_iterations,
        sns.newton_iterations,
        sns.cg_iterations,
        sns.kept_per_row,
        sns.step_lengths,
        sns.errors
    );
    assert!(sns.converged, "errors {:?}", sns.errors);
    // 22 measured: at η = 1000 the 20 warm-up sweeps leave the error at 0.26, and the damped
    // phase takes ~15 steps before the fast local one.
    assert!(
        sns.newton_iterations <= 25,
        "{} Newton steps",
        sns.newton_iterations
    );
    assert!(
        sinkhorn_to_tol > 10 * (sns.sinkhorn_iterations + sns.newton_iterations),
        "Sinkhorn {sinkhorn_to_tol} vs SNS {} + {}",
        sns.sinkhorn_iterations,
        sns.newton_iterations
    );
    let gap = gauge_gap(&sns.f, &sns.g, &long.f, &long.g);
    assert!(gap < 2e-4 * eps * 100.0, "potentials differ by {gap}");
    // The safe rule keeps more than the top-2 failure case, and fewer than a dense row.
    let kept = *sns.kept_per_row.last().unwrap();
    assert!(kept >= 2.0 && kept < m as f64 / 2.0, "kept {kept} per row");
    let rel = (sns.cost_linear as f64 - p_long).abs() / p_long;
    assert!(rel < 1e-4, "<P,C> {} vs {p_long}", sns.cost_linear);
}

/// The sparsity pattern the GPU builds is the reference's binned safe rule applied to the same
/// potentials: the same cut for (nearly) every row (an entry on a bin edge may fall either
/// way in f32 vs f64), CSR and CSC hold the same entries, and the values are the plan's.
#[test]
fn gpu_pattern_is_the_binned_safe_rule() {
    let engine = engine();
    let (n, m, eps) = (70, 301, 1.0 / 100.0);
    let (a, b, c) = dense_problem(n, m, 11);
    let problem = OtProblem {
        a: &a,
        b: &b,
        cost: CostInput::Dense(&c),
    };
    let opts = SnsOptions {
        cap: 40,
        ..SnsOptions::default()
    };
    let plan = SnsPlan::new(&engine, &problem, eps, &opts).unwrap();
    let mut rec = StepRecorder::new();
    plan.record_sinkhorn(&mut rec, 5);
    plan.record_evaluate(&mut rec);
    plan.record_newton_system(&mut rec);
    rec.submit(&engine).unwrap();
    let pat = plan.read_pattern().unwrap();
    let (f, g) = plan.read_potentials().unwrap();
    let (f, g) = (f64s(&f), f64s(&g));
    // The reference rule from the same (f32) potentials, in f64.
    let p: Vec<f64> = (0..n * m)
        .map(|k| ((f[k / m] + g[k % m] - c[k] as f64) / eps).exp())
        .collect();
    let r: Vec<f64> = (0..n).map(|i| p[i * m..(i + 1) * m].iter().sum()).collect();
    let col: Vec<f64> = (0..m).map(|j| (0..n).map(|i| p[i * m + j]).sum()).collect();
    let err: f64 = a
        .iter()
        .zip(&r)
        .map(|(x, y)| (*x as f64 - y).abs())
        .sum::<f64>()
        + b.iter()
            .zip(&col)
            .map(|(x, y)| (*x as f64 - y).abs())
            .sum::<f64>();
    let mut same = 0;
    for i in 0..n {
        let (mut mass, mut count) = ([0.0; refot::SNS_BINS], [0u32; refot::SNS_BINS]);
        for j in 0..m {
            let bin = refot::sns_bin((p[i * m + j] / r[i]).ln());
            mass[bin] += p[i * m + j] / r[i];
            count[bin] += 1;
        }
        let want = refot::binned_cut(&mass, &count, opts.nu * err, opts.cap).map(|(l, _)| l as u32);
        if want == Some(pat.cut[i]) {
            same += 1;
        }
    }
    assert!(
        same * 100 >= n * 95,
        "{same} of {n} rows have the reference's cut"
    );
    // CSR and CSC: the same entries, every row within the cap, values = P.
    let mut from_rows = Vec::new();
    for i in 0..n {
        let (lo, hi) = (pat.row_offsets[i] as usize, pat.row_offsets[i + 1] as usize);
        assert!(hi - lo <= opts.cap, "row {i} keeps {}", hi - lo);
        for e in lo..hi {
            let j = pat.row_columns[e] as usize;
            let want = p[i * m + j];
            assert!(
                (pat.row_values[e] as f64 - want).abs() <= 1e-4 * want + 1e-9,
                "P[{i},{j}] = {} vs {want}",
                pat.row_values[e]
            );
            from_rows.push((i, j, pat.row_values[e].to_bits()));
        }
    }
    let mut from_cols = Vec::new();
    for j in 0..m {
        let (lo, hi) = (pat.col_offsets[j] as usize, pat.col_offsets[j + 1] as usize);
        for e in lo..hi {
            from_cols.push((pat.col_rows[e] as usize, j, pat.col_values[e].to_bits()));
        }
    }
    from_rows.sort_unstable();
    from_cols.sort_unstable();
    assert_eq!(from_rows, from_cols, "CSR and CSC disagree");
    assert!(from_rows.len() >= n, "{} kept entries", from_rows.len());
}

/// Online squared-Euclidean costs between point clouds, n = 1 and n ≠ m: the GPU follows the
/// f64 reference's Newton trajectory step by step and reaches its converged potentials.
#[test]
fn gpu_sns_point_clouds_and_edge_sizes() {
    let engine = engine();
    let mut r = ChaCha8Rng::seed_from_u64(5);
    for (n, m) in [(1usize, 9usize), (130, 97)] {
        let d = 2;
        let x: Vec<f32> = (0..n * d).map(|_| r.random_range(-1.0f32..1.0)).collect();
        let y: Vec<f32> = (0..m * d).map(|_| r.random_range(-1.0f32..1.0)).collect();
        let (a, b) = (weights(&mut r, n), weights(&mut r, m));
        let problem = OtProblem {
            a: &a,
            b: &b,
            cost: CostInput::SqEuclidean { x: &x, y: &y, d },
        };
        let eps = 0.01;
        let opts = SnsOptions {
            sinkhorn_iterations: 100,
            ..SnsOptions::default()
        };
        let sns = sinkhorn_newton_sparse(&engine, &problem, eps, &opts).unwrap();
        println!(
            "{n}×{m}: {} Newton steps, errors {:?}, CG {:?}",
            sns.newton_iterations, sns.errors, sns.cg_iterations
        );
        assert!(sns.converged, "{n}×{m}: errors {:?}", sns.errors);
        let cost = Cost::SqEuclidean {
            d,
            x: f64s(&x),
            y: f64s(&y),
        };
        let long = refot::sinkhorn_log(
            &w64(&a),
            &w64(&b),
            &cost,
            eps,
            &refot::SinkhornOptions {
                tol: 1e-9,
                max_iter: 200_000,
                check_every: 10,
                eps_scaling: None,
            },
            None,
        )
        .unwrap();
        let gap = gauge_gap(&sns.f, &sns.g, &long.f, &long.g);
        // The trajectory: the f64 reference with the GPU's rule and options takes the same
        // Newton steps (errors agree to 1 % while they are above the f32 floor).
        let reference = refot::sinkhorn_newton_sparse(
            &w64(&a),
            &w64(&b),
            &cost,
            eps,
            &refot::SnsOptions {
                sinkhorn_iterations: opts.sinkhorn_iterations,
                sparsify: refot::Sparsify::Binned {
                    nu: opts.nu,
                    cap: opts.cap,
                },
                tol: opts.tol,
                ..Default::default()
            },
        )
        .unwrap();
        println!("reference errors {:?}", reference.errors);
        assert_eq!(reference.newton_iterations, sns.newton_iterations);
        for (x, y) in sns.errors.iter().zip(&reference.errors) {
            if *y > 1e-4 {
                assert!(
                    (*x as f64 - y).abs() <= 1e-2 * y,
                    "error {x} vs reference {y}"
                );
            }
        }
        assert!(
            gap < 2e-4 * eps * 100.0,
            "{n}×{m}: potentials differ by {gap}"
        );
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let engine = engine();
    let (a, b, mut c) = dense_problem(5, 4, 1);
    let ok = |c: &[f32], eps: f64, opts: &SnsOptions| {
        let problem = OtProblem {
            a: &a,
            b: &b,
            cost: CostInput::Dense(c),
        };
        sinkhorn_newton_sparse(&engine, &problem, eps, opts)
    };
    let d = SnsOptions::default();
    for eps in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(
            matches!(ok(&c, eps, &d), Err(Error::InvalidHyperparameter(_))),
            "eps {eps}"
        );
    }
    for bad in [
        SnsOptions { cap: 0, ..d },
        SnsOptions { cg_max: 0, ..d },
        SnsOptions { nu: f64::NAN, ..d },
        SnsOptions { cg_tol: -1.0, ..d },
    ] {
        assert!(
            matches!(ok(&c, 0.1, &bad), Err(Error::InvalidHyperparameter(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(
        ok(&c[..19], 0.1, &d),
        Err(Error::ShapeMismatch { .. })
    ));
    c[3] = f32::NAN;
    assert!(matches!(ok(&c, 0.1, &d), Err(Error::InvalidInput(_))));
    let b2: Vec<f32> = b.iter().map(|v| v * 2.0).collect();
    let problem = OtProblem {
        a: &a,
        b: &b2,
        cost: CostInput::Dense(&c),
    };
    assert!(sinkhorn_newton_sparse(&engine, &problem, 0.1, &d).is_err());
}
