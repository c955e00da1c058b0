//! FRUGAL's SVD projector on the GPU (shaders/optim/frugal_svd_adam.wgsl, frugal_svd_apply.wgsl,
//! frugal.wgsl with COMPACT state, all including frugal_common.wgsl; the GEMMs of
//! linalg/gemm.wgsl) against the reference `wgopt_reference::optim::frugal::svd`:
//! 40-step trajectories with refreshes every 7 steps over every inactive rule, a left (17×33)
//! and a right (40×9) projector beside plain parameters, clipping in half the runs; the compact
//! state matches the reference's projected coordinates; a NaN gradient on a refresh step skips
//! the step bit-identically and the refresh happens on the next applied step; a checkpoint
//! taken mid-period resumes the same trajectory; bad input is refused.
//!
//! Tolerance rtol 1e-4, atol 1e-5: the GPU's products accumulate in f32 (the reference in f64,
//! rounded to f32 per product as the GPU stores it), and the basis comes from a sketch read back
//! in f32, so the projected coordinates agree to ~1e-6 relative; over 40 steps of AdamW on them
//! that grows to ~1e-5. The gradients have a geometrically decaying spectrum (σ_i = 8·0.7^i)
//! plus a little noise, as real gradients do: with near-equal singular values at the cut the
//! individual Ritz vectors, and so Adam's coordinates, are ill-determined on both faces (with
//! random A·diag·B factors instead of orthonormal ones, the 4th direction differed by 1% after
//! 40 steps). The spectrum's tail keeps the residual's entries ~1e-2, far above the products'
//! rounding (~1e-6), so signSGD takes the same sign on both faces for these seeds; an entry
//! within the rounding of zero can take opposite signs on the two faces, a legitimate tie that
//! moves that parameter by 2·lr·scale (seen on the 123k entries of the paging test, which
//! therefore uses the SGD rule).

mod common;
use common::*;
use rand_chacha::ChaCha8Rng;
use wgopt_optim::{Frugal, FrugalConfig, InactiveRule, Optimizer};
use wgopt_reference::guard;
use wgopt_reference::optim::frugal::{self, svd::SvdShape, FrugalState, Projection};
use wgopt_scheduler::{Error, GuardConfig, ParamSet, ParamSpec};

const SVD_RTOL: f32 = 1e-4;
const SVD_ATOL: f32 = 1e-5;

fn specs() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new("w", &[17, 33], "a"),
        ParamSpec::new("u", &[40, 9], "a"),
        ParamSpec::new("b", &[7], "b"),
        ParamSpec::new("conv", &[2, 3, 2, 2], "b"),
    ]
}

fn base(rule: InactiveRule, density: f64, seed: u64) -> FrugalConfig {
    FrugalConfig {
        lr: 1e-2,
        density,
        weight_decay: 1e-2,
        update_gap: 7,
        inactive_update_rule: rule,
        inactive_lr_scale: 0.5,
        proj_params_lr_scale: 0.8,
        seed,
        projection: Projection::Svd,
        ..FrugalConfig::default()
    }
}

/// `n` orthonormal columns of length `len` (column-major), by Gram–Schmidt on Gaussians.
fn orthonormal(r: &mut ChaCha8Rng, len: usize, n: usize) -> Vec<Vec<f32>> {
    let mut out: Vec<Vec<f32>> = Vec::new();
    for _ in 0..n {
        let mut v = normal_vec(r, len, 1.0);
        for u in &out {
            let dot: f32 = v.iter().zip(u).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(u).for_each(|(a, b)| *a -= dot * b);
        }
        let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        v.iter_mut().for_each(|a| *a /= norm);
        out.push(v);
    }
    out
}

/// G = U·diag(σ)·Vᵀ + noise with σ_i = 8·0.7^i (gaps of 30% between neighbours, far above
/// the noise's spectral norm ≈ 0.05); 1-D shapes: noise.
fn gradient(r: &mut ChaCha8Rng, shape: &[usize]) -> Vec<f32> {
    let len: usize = shape.iter().product();
    if shape.len() != 2 {
        return normal_vec(r, len, 0.5);
    }
    let (rows, cols) = (shape[0], shape[1]);
    let d = rows.min(cols);
    let (u, v) = (orthonormal(r, rows, d), orthonormal(r, cols, d));
    let noise = normal_vec(r, len, 0.005);
    (0..len)
        .map(|x| {
            let (i, j) = (x / cols, x % cols);
            let s: f32 = (0..d)
                .map(|l| 8.0 * 0.7f32.powi(l as i32) * u[l][i] * v[l][j])
                .sum();
            s + noise[x]
        })
        .collect()
}

struct Run {
    params: ParamSet,
    opt: Frugal,
    host: Vec<Vec<f32>>,
    states: Vec<FrugalState>,
    cfg: FrugalConfig,
    clip: Option<f32>,
    r: ChaCha8Rng,
}

fn build(
    params: &ParamSet,
    cfg: FrugalConfig,
    clip: Option<f32>,
) -> wgopt_scheduler::Result<Frugal> {
    let groups: Vec<_> = params
        .layout()
        .groups
        .iter()
        .map(|g| (g.clone(), cfg))
        .collect();
    let guard = GuardConfig {
        max_grad_norm: clip,
        skip_non_finite: true,
    };
    Frugal::new(params, &groups, guard)
}

fn start(cfg: FrugalConfig, clip: Option<f32>) -> Run {
    start_on(&engine(), &specs(), cfg, clip)
}

fn start_on(
    engine: &wgopt_scheduler::Engine,
    specs: &[ParamSpec],
    cfg: FrugalConfig,
    clip: Option<f32>,
) -> Run {
    let mut params = ParamSet::new(engine, specs).unwrap();
    let layout = params.layout().clone();
    let mut r = rng(cfg.seed);
    let host: Vec<Vec<f32>> = layout
        .slots
        .iter()
        .map(|s| normal_vec(&mut r, s.len, 1.0))
        .collect();
    for (s, p) in layout.slots.iter().zip(&host) {
        params.write_param(&s.name, p).unwrap();
    }
    let states = layout
        .slots
        .iter()
        .map(|s| FrugalState::for_shape(&cfg, &s.shape))
        .collect();
    let opt = build(&params, cfg, clip).unwrap();
    Run {
        params,
        opt,
        host,
        states,
        cfg,
        clip,
        r,
    }
}

impl Run {
    /// One step on both faces with fresh gradients (`poison`: a NaN in w's gradient, which the
    /// GPU skips and the reference never sees).
    fn step(&mut self, poison: bool) {
        let layout = self.params.layout().clone();
        let mut grads: Vec<Vec<f32>> = layout
            .slots
            .iter()
            .map(|s| gradient(&mut self.r, &s.shape))
            .collect();
        if poison {
            grads[0][5] = f32::NAN;
        }
        let refs: Vec<&[f32]> = grads.iter().map(|x| &x[..]).collect();
        self.params.write_grads_by_slot(&refs).unwrap();
        self.opt.step(&mut self.params).unwrap();
        if poison {
            return;
        }
        let d = guard::decide(
            grads.iter().map(|x| &x[..]),
            self.clip.map(|c| c as f64),
            true,
        );
        for (i, s) in layout.slots.iter().enumerate() {
            let g = guard::clipped(&grads[i], d.clip_coef);
            let cfg = self.cfg;
            frugal::step(
                &cfg,
                cfg.lr,
                i as u32,
                &s.shape,
                &mut self.host[i],
                &g,
                &mut self.states[i],
            )
            .unwrap();
        }
    }

    fn steps(&mut self, n: usize) {
        for _ in 0..n {
            self.step(false);
        }
    }

    /// Parameters and the compact state (in slot order, as the GPU lays it out).
    fn compare(&mut self, label: &str) {
        self.compare_within(label, SVD_ATOL);
    }

    fn compare_within(&mut self, label: &str, atol: f32) {
        let layout = self.params.layout().clone();
        let gpu = self.params.read_params_by_slot().unwrap();
        for (i, s) in layout.slots.iter().enumerate() {
            assert_close(
                &format!("{label} {}", s.name),
                &gpu[i],
                &self.host[i],
                SVD_RTOL,
                atol,
            );
        }
        let bytes = self.opt.save(&self.params).unwrap();
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        for (f, pick) in [("exp_avg", 0), ("exp_avg_sq", 1)] {
            let got: Vec<f32> = bytemuck::pod_collect_to_vec(
                file.tensor(&format!("frugal.svd.{f}")).unwrap().data(),
            );
            let want: Vec<f32> = self
                .states
                .iter()
                .flat_map(|st| {
                    if pick == 0 {
                        st.exp_avg.clone()
                    } else {
                        st.exp_avg_sq.clone()
                    }
                })
                .collect();
            assert_close(&format!("{label} {f}"), &got, &want, SVD_RTOL, atol);
        }
    }
}

#[test]
fn svd_trajectories_every_rule() {
    let mut seed = 3000;
    for rule in [InactiveRule::SignSgd, InactiveRule::Sgd, InactiveRule::No] {
        for (density, clip) in [(0.25, None), (0.5, Some(5.0))] {
            seed += 1;
            let mut run = start(base(rule, density, seed), clip);
            run.steps(40);
            run.compare(&format!("frugal svd {rule:?} ρ={density} clip={clip:?}"));
        }
    }
}

/// Arena chunks of 13 KiB (3328 floats): the four weights' [P(G) | U] pairs (1024 floats each
/// at r = 8) take two pages of the low-dimensional buffer, so two AdamW passes; the plain
/// parameters straddle chunks.
#[test]
fn svd_pages_over_small_bindings() {
    let specs = vec![
        ParamSpec::new("a", &[30, 64], "a"),
        ParamSpec::new("b", &[64, 30], "a"),
        ParamSpec::new("bias", &[3000], "b"),
        ParamSpec::new("c", &[30, 64], "a"),
        ParamSpec::new("d", &[64, 30], "a"),
    ];
    // The SGD rule: 123k residual entries over 16 steps would put a few within the products'
    // rounding of zero, where sign() may differ between the faces (a 2·lr jump, seen once).
    let cfg = base(InactiveRule::Sgd, 0.25, 21);
    let mut run = start_on(&cramped_engine(), &specs, cfg, Some(5.0));
    run.steps(16);
    // atol 1e-4: Adam divides each projected coordinate by its own RMS, so the smallest ones
    // (|P(G)| ~ 1e-3 among 30–64-term f32 products with ~1e-6 rounding) carry ~1e-3 relative
    // error into a step of lr·scale = 8e-3; over 16 steps that reaches ~5e-5 on a parameter
    // (measured 4.7e-5 on a[1105], the same with one page on an uncramped engine).
    run.compare_within("frugal svd over two pages", 1e-4);
}

/// The compact state: r·max(rows, cols) floats per 2-D weight (w: r = round(17·ρ), 33 columns;
/// u: r = round(9·ρ), 40 rows), numel for the others; against AdamW's 2·numel per parameter.
#[test]
fn svd_state_is_compact() {
    let cfg = base(InactiveRule::SignSgd, 0.25, 7);
    let mut run = start(cfg, None);
    run.steps(1);
    let bytes = run.opt.save(&run.params).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let len = |name: &str| file.tensor(name).unwrap().shape().iter().product::<usize>();
    let (w, u) = (
        SvdShape::new(&cfg, &[17, 33]),
        SvdShape::new(&cfg, &[40, 9]),
    );
    assert_eq!((w.r, u.r), (4, 2));
    assert_eq!(len("frugal.svd.exp_avg"), 4 * 33 + 2 * 40 + 7 + 24);
    assert_eq!(len("frugal.svd.basis"), 17 * 4 + 9 * 2);
    assert!(
        file.tensor("w.exp_avg").is_err(),
        "no parameter-sized state for svd"
    );
}

/// A NaN gradient on the first step of a period: skipped (parameters, compact state and bases
/// bit-identical), and the next applied step refreshes and continues the reference trajectory.
#[test]
fn svd_nan_on_a_refresh_step_is_skipped() {
    let mut run = start(base(InactiveRule::SignSgd, 0.5, 11), None);
    run.steps(7);
    let before_params = run.params.read_params_by_slot().unwrap();
    let before_state = run.opt.save(&run.params).unwrap();
    run.step(true);
    assert_eq!(run.params.read_params_by_slot().unwrap(), before_params);
    let after = run.opt.save(&run.params).unwrap();
    let names = [
        "frugal.svd.exp_avg",
        "frugal.svd.exp_avg_sq",
        "frugal.svd.basis",
    ];
    assert_same_tensors(&before_state, &after, &names);
    assert_eq!(run.opt.stats().unwrap().skipped_steps, 1);
    run.steps(9);
    run.compare("frugal svd after a skipped refresh");
}

/// Save after 10 steps (inside the second period), load into a fresh optimizer, continue: the
/// restored bases serve the rest of the period, then the next refresh follows the reference.
#[test]
fn svd_checkpoint_resume_mid_period() {
    let cfg = base(InactiveRule::SignSgd, 0.5, 13);
    let mut run = start(cfg, None);
    run.steps(10);
    let bytes = run.opt.save(&run.params).unwrap();
    run.opt = build(&run.params, cfg, None).unwrap();
    run.opt.load(&run.params, &bytes).unwrap();
    run.steps(10);
    run.compare("frugal svd resumed");
}

#[test]
fn svd_bad_input_is_refused() {
    let params = ParamSet::new(&engine(), &specs()).unwrap();
    // ρ = 0.05: round(9·0.05) = 0 for u.
    let err = build(&params, base(InactiveRule::SignSgd, 0.05, 1), None).unwrap_err();
    assert!(
        matches!(err, Error::InvalidHyperparameter(ref m) if m.contains("rank 0")),
        "{err}"
    );
    // Groups must agree on the projection (it shapes the state).
    let mut other = base(InactiveRule::SignSgd, 0.25, 1);
    other.projection = Projection::Columns;
    let groups = vec![
        ("a".to_string(), base(InactiveRule::SignSgd, 0.25, 1)),
        ("b".to_string(), other),
    ];
    let err = Frugal::new(&params, &groups, GuardConfig::default()).unwrap_err();
    assert!(matches!(err, Error::InvalidHyperparameter(_)), "{err}");
}
