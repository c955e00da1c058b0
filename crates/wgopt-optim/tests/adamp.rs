//! AdamP and SGDP on the GPU (shaders/optim/adamp_rows.wgsl, adamp_decide.wgsl, adamp.wgsl)
//! against the reference: 100-step trajectories where one weight's gradients are orthogonal to
//! each of its rows (channel projection), one's to the whole layer only (layer projection), one
//! is random (no projection) and the vectors are plain steps; and the update of a projected
//! weight is orthogonal to each of its rows. Tolerance as tests/parity.rs (rtol 2e-5, atol 2e-6):
//! the GPU's row sums are f32 tree sums, the reference's f64, which moves the projection by
//! ~1e-7 relative per step.

mod common;
use common::*;
use wgopt_optim::{AdamP, AdamPConfig, Optimizer, Sgdp, SgdpConfig};
use wgopt_reference::optim::adamp::{self, Projection};
use wgopt_reference::optim::{AdamPState, SgdpState};
use wgopt_scheduler::{Error, GuardConfig, ParamSet, ParamSpec};

fn specs() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new("conv", &[4, 3, 3, 3], "a"),
        ParamSpec::new("w", &[17, 33], "a"),
        ParamSpec::new("m", &[5, 257], "b"),
        ParamSpec::new("b", &[7], "b"),
        ParamSpec::new("long", &[5001], "a"),
    ]
}

/// Gradients for the current parameters: "conv" orthogonal to each row, "w" with rows
/// alternately along +p_r and −p_r scaled so the layer sum vanishes, the rest random.
fn gradients(
    r: &mut rand_chacha::ChaCha8Rng,
    shapes: &[Vec<usize>],
    host: &[Vec<f32>],
) -> Vec<Vec<f32>> {
    shapes
        .iter()
        .enumerate()
        .map(|(i, shape)| {
            let n: usize = shape.iter().product();
            let mut g = normal_vec(r, n, 0.5);
            let p = &host[i];
            let rows = shape[0];
            let len = n / rows;
            match i {
                0 => {
                    for k in 0..rows {
                        let (pr, gr) = (&p[k * len..(k + 1) * len], &mut g[k * len..(k + 1) * len]);
                        let pg: f64 = pr
                            .iter()
                            .zip(gr.iter())
                            .map(|(a, b)| *a as f64 * *b as f64)
                            .sum();
                        let pp: f64 = pr.iter().map(|a| (*a as f64).powi(2)).sum();
                        for (x, a) in gr.iter_mut().zip(pr) {
                            *x -= (pg / pp * *a as f64) as f32;
                        }
                    }
                }
                1 => {
                    let norms: Vec<f64> = (0..rows)
                        .map(|k| {
                            p[k * len..(k + 1) * len]
                                .iter()
                                .map(|a| (*a as f64).powi(2))
                                .sum()
                        })
                        .collect();
                    // Coefficients c_k with Σ c_k‖p_k‖² = 0: +1 on even rows, the odd rows
                    // share the balancing weight.
                    let even: f64 = norms.iter().step_by(2).sum();
                    let odd: f64 = norms.iter().skip(1).step_by(2).sum();
                    for k in 0..rows {
                        let c = if k % 2 == 0 { 1.0 } else { -even / odd };
                        for j in k * len..(k + 1) * len {
                            g[j] = (c * p[j] as f64 * 0.3) as f32;
                        }
                    }
                }
                _ => {}
            }
            g
        })
        .collect()
}

fn run(adam: bool, nesterov: bool, wd: f64, clip: Option<f32>, seed: u64) {
    let engine = engine();
    let specs = specs();
    let mut params = ParamSet::new(&engine, &specs).unwrap();
    let layout = params.layout().clone();
    let shapes: Vec<Vec<usize>> = layout.slots.iter().map(|s| s.shape.clone()).collect();
    let mut r = rng(seed);
    let mut host: Vec<Vec<f32>> = layout
        .slots
        .iter()
        .map(|s| normal_vec(&mut r, s.len, 1.0))
        .collect();
    for (s, p) in layout.slots.iter().zip(&host) {
        params.write_param(&s.name, p).unwrap();
    }
    let guard = GuardConfig {
        max_grad_norm: clip,
        skip_non_finite: true,
    };
    let adam_cfg = |g: &str| AdamPConfig {
        lr: if g == "a" { 1e-2 } else { 5e-3 },
        weight_decay: wd,
        nesterov,
        ..AdamPConfig::default()
    };
    let sgd_cfg = |g: &str| SgdpConfig {
        lr: if g == "a" { 1e-2 } else { 5e-3 },
        weight_decay: wd,
        nesterov,
        dampening: if nesterov { 0.0 } else { 0.1 },
        ..SgdpConfig::default()
    };
    let mut opt: Box<dyn Optimizer> = if adam {
        let groups: Vec<_> = layout
            .groups
            .iter()
            .map(|g| (g.clone(), adam_cfg(g)))
            .collect();
        Box::new(AdamP::new(&params, &groups, guard).unwrap())
    } else {
        let groups: Vec<_> = layout
            .groups
            .iter()
            .map(|g| (g.clone(), sgd_cfg(g)))
            .collect();
        Box::new(Sgdp::new(&params, &groups, guard).unwrap())
    };
    let mut adam_states: Vec<AdamPState> = layout
        .slots
        .iter()
        .map(|s| AdamPState::new(s.len))
        .collect();
    let mut sgd_states: Vec<SgdpState> = layout
        .slots
        .iter()
        .map(|s| SgdpState {
            momentum: vec![0.0; s.len],
        })
        .collect();
    let mut seen = Vec::new();
    for _ in 0..STEPS {
        let grads = gradients(&mut r, &shapes, &host);
        let refs: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
        params.write_grads_by_slot(&refs).unwrap();
        opt.step(&mut params).unwrap();
        let coef = clip.map_or(1.0, |c| {
            let norm = grads
                .iter()
                .flatten()
                .map(|&x| (x as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            (c as f64 / (norm + 1e-6)).min(1.0) as f32
        });
        let mut views = Vec::new();
        for (i, s) in layout.slots.iter().enumerate() {
            let g: Vec<f32> = grads[i].iter().map(|&x| x * coef).collect();
            let group = &layout.groups[s.group];
            views.push(if adam {
                let c = adam_cfg(group);
                adamp::adamp_step(&c, c.lr, &s.shape, &mut host[i], &g, &mut adam_states[i])
                    .unwrap()
            } else {
                let c = sgd_cfg(group);
                adamp::sgdp_step(&c, c.lr, &s.shape, &mut host[i], &g, &mut sgd_states[i]).unwrap()
            });
        }
        seen.push(views);
    }
    // The test data exercises every view.
    assert!(
        seen.iter().all(|v| v[0] == Projection::Channel),
        "conv must project by channel"
    );
    assert!(
        seen.iter().all(|v| v[1] == Projection::Layer),
        "w must project by layer"
    );
    assert!(
        seen.iter().all(|v| v[2] == Projection::None),
        "m must not project"
    );
    let label = format!("{} nesterov={nesterov} wd={wd} clip={clip:?}", opt.name());
    let gpu = params.read_params_by_slot().unwrap();
    for (i, s) in layout.slots.iter().enumerate() {
        assert_close(
            &format!("{label} {}", s.name),
            &gpu[i],
            &host[i],
            RTOL,
            ATOL,
        );
    }
    let bytes = opt.save(&params).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (i, s) in layout.slots.iter().enumerate() {
        let fields: Vec<(&str, &[f32])> = if adam {
            vec![
                ("exp_avg", &adam_states[i].exp_avg),
                ("exp_avg_sq", &adam_states[i].exp_avg_sq),
            ]
        } else {
            vec![("momentum", &sgd_states[i].momentum)]
        };
        for (f, want) in fields {
            let got: Vec<f32> = bytemuck::pod_collect_to_vec(
                file.tensor(&format!("{}.{f}", s.name)).unwrap().data(),
            );
            assert_close(&format!("{label} {}.{f}", s.name), &got, want, RTOL, ATOL);
        }
    }
}

#[test]
fn adamp_trajectories() {
    run(true, false, 0.0, None, 900);
    run(true, true, 1e-2, Some(5.0), 901);
}

#[test]
fn sgdp_trajectories() {
    run(false, false, 1e-2, None, 910);
    run(false, true, 0.0, Some(5.0), 911);
}

/// With no decay, a channel-projected step moves each row orthogonally to itself.
#[test]
fn projected_update_is_orthogonal_to_each_row() {
    let engine = engine();
    let mut params = ParamSet::new(&engine, &specs()).unwrap();
    let layout = params.layout().clone();
    let shapes: Vec<Vec<usize>> = layout.slots.iter().map(|s| s.shape.clone()).collect();
    let mut r = rng(5);
    let host: Vec<Vec<f32>> = layout
        .slots
        .iter()
        .map(|s| normal_vec(&mut r, s.len, 1.0))
        .collect();
    for (s, p) in layout.slots.iter().zip(&host) {
        params.write_param(&s.name, p).unwrap();
    }
    let mut opt = AdamP::all(
        &params,
        AdamPConfig {
            lr: 0.05,
            ..AdamPConfig::default()
        },
    )
    .unwrap();
    let grads = gradients(&mut r, &shapes, &host);
    let refs: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
    params.write_grads_by_slot(&refs).unwrap();
    opt.step(&mut params).unwrap();
    let after = params.read_param("conv").unwrap();
    let before = &host[0];
    for k in 0..4 {
        let rows = k * 27..(k + 1) * 27;
        let d: Vec<f64> = rows
            .clone()
            .map(|i| after[i] as f64 - before[i] as f64)
            .collect();
        let p: Vec<f64> = rows.map(|i| before[i] as f64).collect();
        let dot: f64 = d.iter().zip(&p).map(|(a, b)| a * b).sum();
        let nd = d.iter().map(|a| a * a).sum::<f64>().sqrt();
        let np = p.iter().map(|a| a * a).sum::<f64>().sqrt();
        assert!(nd > 1e-3, "row {k} did not move");
        assert!(
            dot.abs() < 1e-4 * nd * np,
            "row {k}: cos(Δp, p) = {}",
            dot / (nd * np)
        );
    }
}

#[test]
fn adamp_bad_input() {
    let engine = engine();
    let params = ParamSet::new(&engine, &specs()).unwrap();
    for bad in [
        AdamPConfig {
            delta: -0.1,
            ..AdamPConfig::default()
        },
        AdamPConfig {
            betas: (1.0, 0.9),
            ..AdamPConfig::default()
        },
        AdamPConfig {
            wd_ratio: f64::NAN,
            ..AdamPConfig::default()
        },
    ] {
        assert!(matches!(
            AdamP::all(&params, bad),
            Err(Error::InvalidHyperparameter(_))
        ));
    }
    assert!(matches!(
        Sgdp::all(
            &params,
            SgdpConfig {
                momentum: 1.0,
                ..SgdpConfig::default()
            }
        ),
        Err(Error::InvalidHyperparameter(_))
    ));
    // A 2-D weight split over arena chunks is refused with its name.
    let cramped = cramped_engine();
    let split = ParamSet::new(&cramped, &[ParamSpec::new("wide", &[2, 5000], "a")]).unwrap();
    let e = AdamP::all(&split, AdamPConfig::default()).unwrap_err();
    assert!(e.to_string().contains("wide"), "{e}");
}
