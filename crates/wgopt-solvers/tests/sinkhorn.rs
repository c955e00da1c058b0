//! Log-domain Sinkhorn on the GPU (shaders/ot/sinkhorn_common.wgsl, sinkhorn_cost.wgsl,
//! sinkhorn_update.wgsl, sinkhorn_columns.wgsl, sinkhorn_summary.wgsl) against the f64
//! reference and the spec's oracles.
//!
//! Tolerances: the GPU iterates in f32. After the same number of iterations, potentials agree
//! with the f64 reference to 2e-4 of the cost scale (each LSE carries ~1e-7 relative error and
//! the map is a contraction, so errors do not grow), objectives to 1e-4 relative.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgopt_reference::ot::{self, gaussian, hungarian, Cost};
use wgopt_scheduler::{Engine, Error};
use wgopt_solvers::ot::{
    sinkhorn, CostInput, EpsScaling, OtProblem, SinkhornOptions, SinkhornPlan,
};

fn engine() -> Engine {
    Engine::new().unwrap_or_else(|e| panic!("{e}"))
}

fn weights(r: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    let w: Vec<f32> = (0..n).map(|_| r.random_range(0.2f32..1.0)).collect();
    let s: f32 = w.iter().sum();
    w.into_iter().map(|v| v / s).collect()
}

fn points(r: &mut ChaCha8Rng, n: usize, d: usize) -> Vec<f32> {
    (0..n * d).map(|_| r.random_range(-1.0f32..1.0)).collect()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// GPU and reference after the same iterations, awkward sizes, dense and online costs, each
/// kind once as a batch and once problem by problem.
#[test]
fn gpu_matches_reference_on_awkward_sizes() {
    let engine = engine();
    let mut r = ChaCha8Rng::seed_from_u64(1);
    let shapes = [(1usize, 1usize), (1, 7), (7, 1), (33, 17), (257, 300)];
    for kind in 0..3 {
        let d = 3;
        // (a, b, x, y) per shape.
        type Data = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>);
        let data: Vec<Data> = shapes
            .iter()
            .map(|&(n, m)| {
                let (x, y) = (points(&mut r, n, d), points(&mut r, m, d));
                (weights(&mut r, n), weights(&mut r, m), x, y)
            })
            .collect();
        let dense: Vec<Vec<f32>> = data
            .iter()
            .map(|(a, b, x, y)| {
                let c = Cost::SqEuclidean {
                    d,
                    x: f64s(x),
                    y: f64s(y),
                };
                let _ = (a, b);
                c.to_dense().into_iter().map(|v| v as f32).collect()
            })
            .collect();
        let problems: Vec<OtProblem> = data
            .iter()
            .zip(&dense)
            .map(|((a, b, x, y), c)| OtProblem {
                a,
                b,
                cost: match kind {
                    0 => CostInput::Dense(c),
                    1 => CostInput::SqEuclidean { x, y, d },
                    _ => CostInput::PNorm { x, y, d, p: 1.5 },
                },
            })
            .collect();
        let opts = SinkhornOptions {
            tol: 1e-5,
            max_iter: 300,
            ..SinkhornOptions::new(0.1)
        };
        let batched = sinkhorn(&engine, &problems, &opts).unwrap();
        for (k, ((a, b, x, y), q)) in data.iter().zip(&problems).enumerate() {
            let single = sinkhorn(&engine, std::slice::from_ref(q), &opts)
                .unwrap()
                .remove(0);
            for res in [&batched[k], &single] {
                let cost = match kind {
                    2 => Cost::PNorm {
                        d,
                        p: 1.5,
                        x: f64s(x),
                        y: f64s(y),
                    },
                    _ => Cost::SqEuclidean {
                        d,
                        x: f64s(x),
                        y: f64s(y),
                    },
                };
                let ro = ot::SinkhornOptions {
                    tol: 0.0,
                    max_iter: res.iterations,
                    ..Default::default()
                };
                let want = ot::sinkhorn_log(&f64s(a), &f64s(b), &cost, 0.1, &ro, None).unwrap();
                let label = format!("kind {kind} shape {:?}", shapes[k]);
                for (got, want) in [(&res.f, &want.f), (&res.g, &want.g)] {
                    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                        assert!(
                            (*g as f64 - w).abs() < 2e-4,
                            "{label} potential[{i}]: {g} vs {w}"
                        );
                    }
                }
                for (name, g, w) in [
                    ("linear", res.cost_linear, want.cost_linear),
                    ("entropic", res.cost_entropic, want.cost_entropic),
                    ("kl", res.cost_kl, want.cost_kl),
                ] {
                    assert!(
                        (g as f64 - w).abs() <= 1e-4 * w.abs().max(1e-2),
                        "{label} {name}: {g} vs {w}"
                    );
                }
                assert!(res.converged, "{label}: not converged in 300 iterations");
                assert!(res.marginal_error <= 1e-5);
            }
        }
    }
}

/// Spec A9.1: the POT 2×2 example (reg = 1): ⟨P,C⟩ = 1/(1+e), E_ent, E_KL.
#[test]
fn pot_two_by_two() {
    let engine = engine();
    let c = [0.0f32, 1.0, 1.0, 0.0];
    let q = OtProblem {
        a: &[0.5, 0.5],
        b: &[0.5, 0.5],
        cost: CostInput::Dense(&c),
    };
    let r = sinkhorn(&engine, &[q], &SinkhornOptions::new(1.0))
        .unwrap()
        .remove(0);
    assert!(r.converged);
    assert!(
        (r.cost_linear - 0.268_941_43).abs() < 1e-6,
        "{}",
        r.cost_linear
    );
    assert!(
        (r.cost_entropic - -1.006_408_9).abs() < 1e-5,
        "{}",
        r.cost_entropic
    );
    assert!((r.cost_kl - 0.379_885_5).abs() < 1e-5, "{}", r.cost_kl);
}

/// Spec A9.3: entropic OT between N(0, 1) and N(1, 4) on a fine 1-D grid (online cost) matches
/// Janati's closed form at σ² = 0.5 (ε = 1): 3.2243566798713923, to the grid's 2e-3.
#[test]
fn gaussian_closed_form_online_cost() {
    let engine = engine();
    let n = 400;
    let grid: Vec<f32> = (0..n)
        .map(|i| -9.0 + 20.0 * i as f32 / (n - 1) as f32)
        .collect();
    let pdf = |mu: f32, var: f32| -> Vec<f32> {
        let w: Vec<f32> = grid
            .iter()
            .map(|x| (-(x - mu).powi(2) / (2.0 * var)).exp().max(1e-30))
            .collect();
        let s: f32 = w.iter().sum();
        w.into_iter().map(|v| v / s).collect()
    };
    let (a, b) = (pdf(0.0, 1.0), pdf(1.0, 4.0));
    let q = OtProblem {
        a: &a,
        b: &b,
        cost: CostInput::SqEuclidean {
            x: &grid,
            y: &grid,
            d: 1,
        },
    };
    let opts = SinkhornOptions {
        tol: 1e-6,
        max_iter: 3000,
        ..SinkhornOptions::new(1.0)
    };
    let r = sinkhorn(&engine, &[q], &opts).unwrap().remove(0);
    let want = gaussian::entropic_ot_1d(0.0, 1.0, 1.0, 4.0, 0.5);
    assert!(r.converged, "errors {:?}", r.errors.last());
    assert!(
        (r.cost_kl as f64 - want).abs() < 2e-3,
        "{} vs {want}",
        r.cost_kl
    );
}

/// Small ε with ε-scaling approaches exact OT: 40 uniform points against 40, the Hungarian
/// assignment is the oracle (in 1-D also the sorted matching). At ε = 5e-3, ⟨P,C⟩ lies between
/// the exact value and the entropic bound OT + ε ln n. At ε = 1e-4 the Gibbs kernel exp(−C/ε)
/// underflows f32 everywhere off the diagonal (e^(−10⁴)); the log domain keeps every potential
/// finite and the marginal error at the f32 floor (~1e-4).
#[test]
fn small_eps_approaches_exact_transport() {
    let engine = engine();
    let mut r = ChaCha8Rng::seed_from_u64(5);
    let n = 40;
    for d in [1usize, 2] {
        let (x, y) = (points(&mut r, n, d), points(&mut r, n, d));
        let w = vec![1.0 / n as f32; n];
        let dense = Cost::SqEuclidean {
            d,
            x: f64s(&x),
            y: f64s(&y),
        }
        .to_dense();
        let (_, exact) = hungarian::assignment(n, &dense);
        let exact = exact / n as f64;
        if d == 1 {
            let sorted = gaussian::wp_1d(&f64s(&x), &f64s(&y), 2.0);
            assert!(
                (sorted - exact).abs() < 1e-12,
                "assignment {exact} vs sorted {sorted}"
            );
        }
        let q = OtProblem {
            a: &w,
            b: &w,
            cost: CostInput::SqEuclidean { x: &x, y: &y, d },
        };
        let scaled = |eps: f64, max_iter: usize| SinkhornOptions {
            tol: 1e-4,
            max_iter,
            eps_scaling: Some(EpsScaling {
                eps0: 1.0,
                decay: 0.5,
            }),
            ..SinkhornOptions::new(eps)
        };
        let res = sinkhorn(&engine, &[q], &scaled(5e-3, 3000))
            .unwrap()
            .remove(0);
        assert!(res.converged, "d {d}: error {}", res.marginal_error);
        let lin = res.cost_linear as f64;
        assert!(
            lin >= exact * (1.0 - 1e-3),
            "d {d}: {lin} below the exact {exact}"
        );
        // The entropic plan minimises ⟨P,C⟩ − εH(P) and H(P) ≤ ln n², while the exact
        // (permutation) plan has H = ln n: so ⟨P_ε,C⟩ ≤ OT + ε ln n (slack for the 1e-4 error).
        let bound = exact + 5e-3 * (n as f64).ln() + 1e-4 * 8.0;
        assert!(lin <= bound, "d {d}: {lin} vs exact {exact}, bound {bound}");
        let tiny = sinkhorn(&engine, &[q], &scaled(1e-4, 400))
            .unwrap()
            .remove(0);
        assert!(tiny.f.iter().chain(&tiny.g).all(|v| v.is_finite()));
        // f32 resolves (f − C)/ε only to ~1e-3 here, so the error floors near 1e-4 instead of
        // converging; it stays finite and small.
        let last = *tiny.errors.last().unwrap();
        assert!(last.is_finite() && last < 1e-3, "d {d}: {:?}", tiny.errors);
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let engine = engine();
    let c = [0.0f32, 1.0, 1.0, 0.0];
    let nan = [0.0f32, f32::NAN, 1.0, 0.0];
    let o = SinkhornOptions::new(0.5);
    let cases: Vec<(OtProblem, SinkhornOptions)> = vec![
        (
            OtProblem {
                a: &[0.5, 0.5],
                b: &[0.7, 0.7],
                cost: CostInput::Dense(&c),
            },
            o,
        ),
        (
            OtProblem {
                a: &[1.5, -0.5],
                b: &[0.5, 0.5],
                cost: CostInput::Dense(&c),
            },
            o,
        ),
        (
            OtProblem {
                a: &[0.5, 0.5],
                b: &[0.5, 0.5],
                cost: CostInput::Dense(&nan),
            },
            o,
        ),
        (
            OtProblem {
                a: &[0.5, 0.5],
                b: &[0.5, 0.5],
                cost: CostInput::Dense(&c),
            },
            SinkhornOptions::new(0.0),
        ),
        (
            OtProblem {
                a: &[0.5, 0.5],
                b: &[0.5, 0.5],
                cost: CostInput::Dense(&c),
            },
            SinkhornOptions::new(f64::NAN),
        ),
        (
            OtProblem {
                a: &[],
                b: &[1.0],
                cost: CostInput::Dense(&[]),
            },
            o,
        ),
        (
            OtProblem {
                a: &[0.5, 0.5],
                b: &[0.5, 0.5],
                cost: CostInput::Dense(&c[..3]),
            },
            o,
        ),
        (
            OtProblem {
                a: &[0.5, 0.5],
                b: &[1.0],
                cost: CostInput::SqEuclidean {
                    x: &[0.0, 1.0, 2.0],
                    y: &[0.0, 1.0],
                    d: 2,
                },
            },
            o,
        ),
        (
            OtProblem {
                a: &[1.0],
                b: &[1.0],
                cost: CostInput::PNorm {
                    x: &[0.0],
                    y: &[1.0],
                    d: 1,
                    p: 0.5,
                },
            },
            o,
        ),
    ];
    for (k, (q, opts)) in cases.into_iter().enumerate() {
        let e = sinkhorn(&engine, &[q], &opts)
            .err()
            .unwrap_or_else(|| panic!("case {k} accepted"));
        assert!(
            matches!(
                e,
                Error::InvalidInput(_)
                    | Error::InvalidHyperparameter(_)
                    | Error::ShapeMismatch { .. }
            ),
            "case {k}: {e}"
        );
    }
}

/// ε-scaling schedules that never reach ε (an infinite eps0, a decay ≥ 1, or more than
/// `MAX_SCALING_STAGES` stages) are refused at once, on the GPU and in the reference; they used
/// to loop forever.
#[test]
fn eps_scaling_that_never_ends_is_refused() {
    use wgopt_reference::ot::sinkhorn::{scaling_stages, MAX_SCALING_STAGES};
    let engine = engine();
    let (a, b, c) = (
        vec![0.5f32, 0.5],
        vec![0.5f32, 0.5],
        vec![0.0f32, 1.0, 1.0, 0.0],
    );
    let q = OtProblem {
        a: &a,
        b: &b,
        cost: CostInput::Dense(&c),
    };
    for (eps0, decay) in [
        (f64::INFINITY, 0.5),
        (f64::NAN, 0.5),
        (1.0, 1.0),
        (1.0, 2.0),
        (1e300, 0.9999),
    ] {
        let opts = SinkhornOptions {
            eps_scaling: Some(EpsScaling { eps0, decay }),
            ..SinkhornOptions::new(0.1)
        };
        let e = sinkhorn(&engine, &[q], &opts).err();
        assert!(
            matches!(e, Some(Error::InvalidHyperparameter(_))),
            "eps0 {eps0}, decay {decay}: {e:?}"
        );
        assert!(scaling_stages(eps0, decay, 0.1).is_err());
    }
    assert_eq!(
        scaling_stages(1.0, 0.5, 0.1).unwrap(),
        vec![1.0, 0.5, 0.25, 0.125]
    );
    assert!(scaling_stages(2f64.powi(60), 0.5, 1.0).unwrap().len() < MAX_SCALING_STAGES);
}

/// The Sinkhorn divergence (three problems in one batch) matches the f64 reference's, is 0 for
/// identical clouds, and matches the spec's closed form for 1-D Gaussians on a grid
/// (S_σ = 1.992309330485511 at σ² = 0.5, to the grid's 2e-3).
#[test]
fn sinkhorn_divergence_matches_reference_and_closed_form() {
    use wgopt_solvers::ot::sinkhorn_divergence;
    let engine = engine();
    let mut r = ChaCha8Rng::seed_from_u64(9);
    let (n, m, d) = (23, 31, 2);
    let (x, y) = (points(&mut r, n, d), points(&mut r, m, d));
    let (a, b) = (weights(&mut r, n), weights(&mut r, m));
    let opts = SinkhornOptions {
        tol: 1e-6,
        max_iter: 2000,
        ..SinkhornOptions::new(0.1)
    };
    let (s, parts) = sinkhorn_divergence(&engine, (&a, &x), (&b, &y), d, &opts).unwrap();
    assert!(parts.iter().all(|p| p.converged));
    let cost = |p: &[f32], q: &[f32]| Cost::SqEuclidean {
        d,
        x: f64s(p),
        y: f64s(q),
    };
    let want = ot::sinkhorn::sinkhorn_divergence(
        &f64s(&a),
        &f64s(&b),
        (&cost(&x, &y), &cost(&x, &x), &cost(&y, &y)),
        0.1,
        &Default::default(),
    )
    .unwrap();
    assert!(
        (s as f64 - want).abs() < 1e-4 * want.abs().max(1e-2),
        "{s} vs {want}"
    );
    let (zero, _) = sinkhorn_divergence(&engine, (&a, &x), (&a, &x), d, &opts).unwrap();
    assert!(zero.abs() < 1e-5, "S(α, α) = {zero}");

    let n = 300;
    let grid: Vec<f32> = (0..n)
        .map(|i| -9.0 + 20.0 * i as f32 / (n - 1) as f32)
        .collect();
    let pdf = |mu: f32, var: f32| -> Vec<f32> {
        let w: Vec<f32> = grid
            .iter()
            .map(|x| (-(x - mu).powi(2) / (2.0 * var)).exp().max(1e-30))
            .collect();
        let s: f32 = w.iter().sum();
        w.into_iter().map(|v| v / s).collect()
    };
    let (pa, pb) = (pdf(0.0, 1.0), pdf(1.0, 4.0));
    let opts = SinkhornOptions {
        tol: 1e-6,
        max_iter: 3000,
        ..SinkhornOptions::new(1.0)
    };
    let (s, _) = sinkhorn_divergence(&engine, (&pa, &grid), (&pb, &grid), 1, &opts).unwrap();
    assert!((s as f64 - 1.992309330485511).abs() < 2e-3, "S = {s}");
}

/// The plan on request (shaders/ot/sinkhorn_plan.wgsl and sinkhorn_apply.wgsl): the dense P
/// and P·v, Pᵀ·u without forming P, for a batch (awkward
/// sizes, dense and point-cloud costs), against P computed in f64 from the same potentials
/// (rtol 1e-5: one f32 exp per entry, sums of ≤ 300 positive terms), and marginals ≈ (a, b)
/// after convergence.
#[test]
fn transport_plan_on_request() {
    let engine = engine();
    let mut r = ChaCha8Rng::seed_from_u64(9);
    let d = 2;
    let shapes = [(33usize, 17usize), (1, 5), (300, 7)];
    let eps = 0.1;
    for dense in [true, false] {
        type Data = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>);
        let data: Vec<Data> = shapes
            .iter()
            .map(|&(n, m)| {
                let (x, y) = (points(&mut r, n, d), points(&mut r, m, d));
                let c = Cost::SqEuclidean {
                    d,
                    x: f64s(&x),
                    y: f64s(&y),
                };
                let c: Vec<f32> = c.to_dense().into_iter().map(|v| v as f32).collect();
                (weights(&mut r, n), weights(&mut r, m), x, y, c)
            })
            .collect();
        let problems: Vec<OtProblem> = data
            .iter()
            .map(|(a, b, x, y, c)| OtProblem {
                a,
                b,
                cost: if dense {
                    CostInput::Dense(c)
                } else {
                    CostInput::SqEuclidean { x, y, d }
                },
            })
            .collect();
        let opts = SinkhornOptions {
            tol: 1e-5,
            ..SinkhornOptions::new(eps)
        };
        let res = sinkhorn(&engine, &problems, &opts).unwrap();
        let plan = SinkhornPlan::new(&engine, &problems, eps).unwrap();
        let pots: Vec<(&[f32], &[f32])> = res.iter().map(|r| (&r.f[..], &r.g[..])).collect();
        plan.set_potentials(&pots).unwrap();
        let dense_plans = plan.transport_plans().unwrap();
        let vs: Vec<Vec<f32>> = shapes.iter().map(|&(_, m)| points(&mut r, m, 1)).collect();
        let us: Vec<Vec<f32>> = shapes.iter().map(|&(n, _)| points(&mut r, n, 1)).collect();
        let pv = plan
            .apply_plan(false, &vs.iter().map(|v| &v[..]).collect::<Vec<_>>())
            .unwrap();
        let ptu = plan
            .apply_plan(true, &us.iter().map(|u| &u[..]).collect::<Vec<_>>())
            .unwrap();
        for (k, &(n, m)) in shapes.iter().enumerate() {
            let (a, b, _, _, c) = &data[k];
            let (f, g) = (&res[k].f, &res[k].g);
            let p: Vec<f64> = (0..n * m)
                .map(|e| ((f[e / m] as f64 + g[e % m] as f64 - c[e] as f64) / eps).exp())
                .collect();
            for (e, (&got, want)) in dense_plans[k].iter().zip(&p).enumerate() {
                assert!(
                    (got as f64 - want).abs() <= 1e-5 * want + 1e-12,
                    "dense {dense} problem {k}: P[{e}] = {got} vs {want}"
                );
            }
            let scale_v: f64 = vs[k].iter().map(|v| v.abs() as f64).sum::<f64>();
            for i in 0..n {
                let want: f64 = (0..m).map(|j| p[i * m + j] * vs[k][j] as f64).sum();
                let tol =
                    1e-5 * scale_v * p[i * m..(i + 1) * m].iter().cloned().fold(0.0, f64::max);
                assert!(
                    (pv[k][i] as f64 - want).abs() <= tol + 1e-12,
                    "Pv[{i}] {} vs {want}",
                    pv[k][i]
                );
                let row: f64 = p[i * m..(i + 1) * m].iter().sum();
                assert!(
                    (row - a[i] as f64).abs() <= 1e-4 * a[i] as f64 + 1e-6,
                    "row {i}: {row} vs {}",
                    a[i]
                );
            }
            let scale_u: f64 = us[k].iter().map(|u| u.abs() as f64).sum::<f64>();
            for j in 0..m {
                let want: f64 = (0..n).map(|i| p[i * m + j] * us[k][i] as f64).sum();
                let colmax = (0..n).map(|i| p[i * m + j]).fold(0.0, f64::max);
                assert!(
                    (ptu[k][j] as f64 - want).abs() <= 1e-5 * scale_u * colmax + 1e-12,
                    "Pᵀu[{j}] {} vs {want}",
                    ptu[k][j]
                );
                let col: f64 = (0..n).map(|i| p[i * m + j]).sum();
                assert!(
                    (col - b[j] as f64).abs() <= 1e-5 + 1e-3 * b[j] as f64,
                    "column {j}: {col} vs {}",
                    b[j]
                );
            }
        }
        // Wrong lengths are typed errors.
        let short: Vec<&[f32]> = vs.iter().map(|v| &v[..v.len() - 1]).collect();
        assert!(matches!(
            plan.apply_plan(false, &short),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(plan.apply_plan(false, &[&vs[0][..]]).is_err());
        assert!(matches!(
            plan.set_potentials(&[(&[0.0][..], &[0.0][..]), pots[1], pots[2]]),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}
