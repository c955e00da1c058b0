//! wgopt's optimizers against burn's own, on the same burn model, data and device: 50 steps
//! each, parameters compared after every step's trajectory ends.

mod common;

use burn::module::Module;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamWConfig, MuonConfig, SgdConfig};
use common::{grads_of, max_diff, shared, values, Mlp};
use wgopt_burn::WgoptConfig;
use wgopt_optim::Router;

const STEPS: usize = 50;

/// Trains `model` for `STEPS` with `step` (the optimizer under test) and returns its values.
fn run(mut model: Mlp, mut step: impl FnMut(Mlp, usize) -> Mlp) -> Vec<(String, Vec<f32>)> {
    for s in 0..STEPS {
        model = step(model, s);
    }
    values(&model)
}

/// Both runs from one initial model (the wgopt run starts from a clone, so its first step also
/// exercises the fork of a shared parameter).
fn race(
    bias: bool,
    wgopt: WgoptConfig,
    lr: f64,
    mut burn_step: impl FnMut(f64, Mlp, burn::optim::GradientsParams) -> Mlp,
) -> f32 {
    let device = shared().autodiff_device();
    let start = Mlp::new(&device, bias);
    let mut optim = wgopt.init(shared()).expect("optimizer");
    let ours = run(start.clone(), |m, s| {
        let g = grads_of(&m, &device, s);
        optim.step(lr, m, g).expect("wgopt step")
    });
    let theirs = run(start, |m, s| {
        let g = grads_of(&m, &device, s);
        burn_step(lr, m, g)
    });
    max_diff(&ours, &theirs)
}

// burn's AdamW: p ← p(1 − lr·wd) − lr·m̂/(√v̂ + ε) with m̂, v̂ bias-corrected; PyTorch's (wgopt's)
// folds the corrections into the step size, lr/(1−β₁ᵗ)·m/(√v/√(1−β₂ᵗ) + ε): the same number in
// exact arithmetic. Differences configured away: ε (burn 1e-5 → 1e-8), weight decay (burn 1e-4
// on every tensor → 0.01 on every tensor; wgopt's default router would exempt biases).
// Tolerance: the two differ by f32 rounding of a few operations per step (≈ 4 ulp of an update
// ≤ lr = 1e-2, i.e. ~5e-9) plus the different gradients those rounding differences cause, and
// Adam divides by √v̂ + ε, which magnifies them where a gradient is near 0; measured 6.9e-7
// after 50 steps on lavapipe. 2e-5 leaves room for another adapter's rounding and still
// catches any semantic difference (a missing bias correction moves parameters by ~lr = 1e-2
// in the first step).
#[test]
fn adamw_matches_burns_adamw_over_50_steps() {
    let mut theirs = AdamWConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(0.01)
        .init();
    let ours = WgoptConfig::new("adamw")
        .with("lr", 1e-2)
        .with("weight_decay", 0.01)
        .with("eps", 1e-8)
        .with_router(Router::new("decay"));
    let diff = race(true, ours, 1e-2, |lr, m, g| theirs.step(lr, m, g));
    eprintln!("max |wgopt - burn| = {diff:e}");
    assert!(diff < 2e-5, "AdamW: wgopt and burn differ by {diff}");
}

// burn's SGD is PyTorch's: v₁ = g, v ← μv + (1−d)g, Nesterov g + μv, L2 decay added to g.
// burn's dampening defaults to 0.1 (PyTorch 0): both set to 0.1. Tolerance as AdamW's: plain
// f32 rounding, no division by small numbers: measured 0 (bit-identical) on lavapipe.
#[test]
fn sgd_momentum_matches_burns_sgd_over_50_steps() {
    let momentum = MomentumConfig {
        momentum: 0.9,
        dampening: 0.1,
        nesterov: false,
    };
    let mut theirs = SgdConfig::new()
        .with_momentum(Some(momentum))
        .with_weight_decay(Some(burn::optim::decay::WeightDecayConfig::new(1e-3)))
        .init();
    let ours = WgoptConfig::new("sgd")
        .with("lr", 0.05)
        .with("momentum", 0.9)
        .with("dampening", 0.1)
        .with("weight_decay", 1e-3)
        .with_router(Router::new("decay"));
    let diff = race(true, ours, 0.05, |lr, m, g| theirs.step(lr, m, g));
    eprintln!("max |wgopt - burn| = {diff:e}");
    assert!(diff < 2e-5, "SGD: wgopt and burn differ by {diff}");
}

// burn's Muon (2-D only): momentum v ← 0.95v + g (first v = g), Nesterov g + 0.95v — wgopt's
// "sum" momentum form, not Keller Jordan's EMA; X/max(‖X‖_F, ε), five quintic steps with
// (3.4445, −4.7750, 2.0315) on the wide orientation; lr·sqrt(max(1, A/B)) with A, B the first
// two dimensions (burn stores Linear weights [d_in, d_out], so A/B = d_in/d_out, and wgopt's
// `original` scale uses the same shape order). Weight decay 0 in both.
// (The sum and EMA forms differ by the factor 1−β only, which Newton–Schulz's normalisation
// removes: measured 2.4e-6 apart, so this test pins the polynomial, the scale and the lr, not
// the form.)
// Tolerance: Newton–Schulz in f32 amplifies rounding (coefficients up to ~5, five steps of
// three GEMMs each in a different summation order), so the updates agree to ~1e-6 relative;
// measured 2.7e-7 after 50 steps at lr 0.02. 1e-4 leaves room for other adapters; a wrong
// scale (Moonlight's 0.2·sqrt(max(A, B))) measured 0.27 apart.
#[test]
fn muon_matches_burns_muon_on_matrices_over_50_steps() {
    let mut theirs = MuonConfig::new().init();
    let ours = WgoptConfig::new("muon")
        .with("lr", 0.02)
        .with("momentum_form", "\"sum\"")
        .with_router(Router::new("muon"));
    let diff = race(false, ours, 0.02, |lr, m, g| theirs.step(lr, m, g));
    eprintln!("max |wgopt - burn| = {diff:e}");
    assert!(diff < 1e-4, "Muon: wgopt and burn differ by {diff}");
}

#[test]
fn module_clone_is_not_written_through() {
    let device = shared().autodiff_device();
    let model = Mlp::new(&device, true);
    let kept = model.clone();
    let before = values(&kept);
    let mut optim = WgoptConfig::new("adamw").init(shared()).unwrap();
    let g = grads_of(&model, &device, 0);
    let model = optim.step(1e-2, model, g).unwrap();
    assert_eq!(values(&kept), before, "the clone changed");
    assert!(max_diff(&values(&model), &before) > 0.0);
    assert!(optim.last_copies().params_forked > 0);
    let _ = model.num_params();
}
