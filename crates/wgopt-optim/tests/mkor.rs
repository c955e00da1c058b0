//! MKOR on the GPU (shaders/optim/mkor_gemv.wgsl, mkor_dot.wgsl, mkor_rank1.wgsl,
//! mkor_flags.wgsl, mkor_pack.wgsl, mkor_norms.wgsl, mkor_apply.wgsl and the GEMMs of
//! linalg/gemm.wgsl, all sharing shaders/optim/mkor_common.wgsl) against the reference
//! `wgopt_reference::optim::mkor` over 40-step
//! trajectories: a layer with a bias (13 × 7, so A⁻¹ is 8 × 8), one without (5 × 13), a 1-D
//! gain in the preconditioned group (base optimizer alone), a plain group, factor steps every
//! 3 steps after a 2-step warm-up, both base optimizers, clipping in one run.
//!
//! Tolerance: rtol 1e-4, atol 1e-5 on parameters, base state and factors. The GPU sums the
//! factor products, the GEMMs and the norms in f32 in a different order than the reference's
//! f64 accumulation (~1e-6 relative per product), and the rescale divides two such norms;
//! 40 steps compound it to a few 1e-5 at most here.

mod common;
use common::*;
use rand::Rng;
use wgopt_optim::{Mkor, MkorBase, MkorConfig, Optimizer};
use wgopt_reference::guard;
use wgopt_reference::optim::mkor::{self, LayerStatistics};
use wgopt_reference::optim::{sgd, SgdConfig, SgdState};
use wgopt_scheduler::{Error, GuardConfig, ParamSet, ParamSpec};

const RTOL_MKOR: f32 = 1e-4;
const ATOL_MKOR: f32 = 1e-5;

fn specs() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new("fc.weight", &[13, 7], "pre"),
        ParamSpec::new("fc.bias", &[13], "pre"),
        ParamSpec::new("proj.weight", &[5, 13], "pre"),
        ParamSpec::new("gain", &[7], "pre"),
        ParamSpec::new("emb", &[11, 7], "plain"),
    ]
}

fn config(base: MkorBase, group: &str) -> MkorConfig {
    let pre = MkorConfig {
        lr: 0.05,
        weight_decay: 1e-3,
        base,
        inv_freq: 3,
        warmup_steps: 2,
        ..MkorConfig::default()
    };
    if group == "pre" {
        pre
    } else {
        MkorConfig {
            lr: 0.02,
            precondition: false,
            ..pre
        }
    }
}

struct Run {
    params: ParamSet,
    opt: Mkor,
    host: Vec<Vec<f32>>,
    reference: mkor::Mkor,
    rng: rand_chacha::ChaCha8Rng,
    clip: Option<f32>,
}

fn setup(base: MkorBase, clip: Option<f32>, seed: u64) -> Run {
    let engine = engine();
    let mut params = ParamSet::new(&engine, &specs()).unwrap();
    let layout = params.layout().clone();
    let mut rng = rng(seed);
    let host: Vec<Vec<f32>> = layout
        .slots
        .iter()
        .map(|s| normal_vec(&mut rng, s.len, 0.5))
        .collect();
    for (s, p) in layout.slots.iter().zip(&host) {
        params.write_param(&s.name, p).unwrap();
    }
    let groups = groups_of(&params, |g| config(base, g));
    let guard = GuardConfig {
        max_grad_norm: clip,
        skip_non_finite: true,
    };
    let opt = Mkor::new(&params, &groups, guard).unwrap();
    let tensors: Vec<(&str, &[usize], MkorConfig)> = layout
        .slots
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                &s.shape[..],
                config(base, &layout.groups[s.group]),
            )
        })
        .collect();
    let reference = mkor::Mkor::new(&tensors).unwrap();
    Run {
        params,
        opt,
        host,
        reference,
        rng,
        clip,
    }
}

impl Run {
    /// Random statistics per layer (ā ends with the ones column where there is a bias).
    fn statistics(&mut self) -> Vec<LayerStatistics> {
        let layers = self.reference.layers.clone();
        layers
            .iter()
            .map(|l| {
                let mut a = normal_vec(&mut self.rng, l.d_in, 0.7);
                if l.bias.is_some() {
                    a.push(1.0);
                }
                LayerStatistics {
                    a,
                    g: normal_vec(&mut self.rng, l.d_out, 0.4),
                }
            })
            .collect()
    }

    /// One step on both faces; returns the raw gradients.
    fn step(&mut self) -> Vec<Vec<f32>> {
        let layout = self.params.layout().clone();
        let grads: Vec<Vec<f32>> = layout
            .slots
            .iter()
            .map(|s| normal_vec(&mut self.rng, s.len, 0.3))
            .collect();
        let refs: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
        self.params.write_grads_by_slot(&refs).unwrap();
        let due = self.opt.statistics_due();
        assert_eq!(due, self.reference.factor_step_due());
        let stats = due.then(|| self.statistics());
        if let Some(stats) = &stats {
            let names: Vec<String> = self
                .reference
                .layers
                .iter()
                .map(|l| layout.slots[l.weight].name.clone())
                .collect();
            for (name, s) in names.iter().zip(stats) {
                self.opt.write_statistics(name, s).unwrap();
            }
        }
        self.opt.step(&mut self.params).unwrap();
        let d = guard::decide(
            grads.iter().map(|x| &x[..]),
            self.clip.map(|c| c as f64),
            true,
        );
        let clipped: Vec<Vec<f32>> = grads
            .iter()
            .map(|g| guard::clipped(g, d.clip_coef))
            .collect();
        self.reference
            .step(1.0, &mut self.host, &clipped, stats.as_deref())
            .unwrap();
        grads
    }

    fn compare(&mut self, label: &str) {
        let layout = self.params.layout().clone();
        let gpu = self.params.read_params_by_slot().unwrap();
        for (i, s) in layout.slots.iter().enumerate() {
            assert_close(
                &format!("{label} {}", s.name),
                &gpu[i],
                &self.host[i],
                RTOL_MKOR,
                ATOL_MKOR,
            );
        }
        let bytes = self.opt.save(&self.params).unwrap();
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let tensor = |name: &str| -> Vec<f32> {
            bytemuck::pod_collect_to_vec(file.tensor(name).unwrap().data())
        };
        let (a, g): (Vec<f32>, Vec<f32>) = (tensor("mkor.a_inv"), tensor("mkor.g_inv"));
        let want_a: Vec<f32> = self
            .reference
            .factors
            .iter()
            .flat_map(|f| f.a_inv.clone())
            .collect();
        let want_g: Vec<f32> = self
            .reference
            .factors
            .iter()
            .flat_map(|f| f.g_inv.clone())
            .collect();
        assert_close(&format!("{label} A⁻¹"), &a, &want_a, RTOL_MKOR, ATOL_MKOR);
        assert_close(&format!("{label} G⁻¹"), &g, &want_g, RTOL_MKOR, ATOL_MKOR);
        let flags = tensor("mkor.flags");
        let want: Vec<f32> = self
            .reference
            .factors
            .iter()
            .flat_map(|f| [f.a_reset as u8 as f32, f.g_reset as u8 as f32])
            .collect();
        assert_eq!(flags, want, "{label} reset flags");
        for (i, s) in layout.slots.iter().enumerate() {
            let fields: Vec<(&str, Vec<f32>)> = match &self.reference.base[i] {
                mkor::BaseState::Sgd(st) => vec![(
                    "momentum_buffer",
                    st.momentum_buffer.clone().unwrap_or_default(),
                )],
                mkor::BaseState::Adam(st) => vec![
                    ("exp_avg", st.exp_avg.clone()),
                    ("exp_avg_sq", st.exp_avg_sq.clone()),
                ],
            };
            for (f, want) in fields {
                let got = tensor(&format!("{}.{f}", s.name));
                assert_close(
                    &format!("{label} {}.{f}", s.name),
                    &got,
                    &want,
                    RTOL_MKOR,
                    ATOL_MKOR,
                );
            }
        }
    }
}

#[test]
fn mkor_trajectories_both_bases() {
    for (k, (base, clip)) in [
        (MkorBase::Sgd, None),
        (MkorBase::Adam, None),
        (MkorBase::Sgd, Some(0.8f32)),
    ]
    .into_iter()
    .enumerate()
    {
        let mut run = setup(base, clip, 300 + k as u64);
        for _ in 0..40 {
            run.step();
        }
        run.compare(&format!("mkor {base:?} clip={clip:?}"));
        // The factors moved away from I.
        assert!(run.reference.factors[0].a_inv[1].abs() > 1e-4);
    }
}

/// First step: the factors are reset to I, Δ = ∇ and the rescale is exactly 1, so MKOR is its
/// base optimizer (torch SGD with momentum) on every parameter.
#[test]
fn first_step_with_identity_factors_is_the_base_optimizer() {
    let mut run = setup(MkorBase::Sgd, None, 7);
    let before = run.host.clone();
    let grads = run.step();
    let layout = run.params.layout().clone();
    let gpu = run.params.read_params_by_slot().unwrap();
    for (i, s) in layout.slots.iter().enumerate() {
        let cfg = config(MkorBase::Sgd, &layout.groups[s.group]);
        let sgd = SgdConfig {
            lr: cfg.lr,
            momentum: cfg.momentum,
            weight_decay: cfg.weight_decay,
            ..SgdConfig::default()
        };
        let mut want = before[i].clone();
        sgd::step(&sgd, cfg.lr, &mut want, &grads[i], &mut SgdState::default()).unwrap();
        assert_close(
            &format!("identity step {}", s.name),
            &gpu[i],
            &want,
            1e-6,
            1e-7,
        );
    }
}

#[test]
fn missing_statistics_and_bad_input_are_typed_errors() {
    let mut run = setup(MkorBase::Sgd, None, 11);
    let layout = run.params.layout().clone();
    let grads: Vec<Vec<f32>> = layout.slots.iter().map(|s| vec![0.1; s.len]).collect();
    let refs: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
    run.params.write_grads_by_slot(&refs).unwrap();
    // Step 1 is a factor step: no statistics yet.
    assert!(matches!(
        run.opt.step(&mut run.params),
        Err(Error::OutOfOrder(_))
    ));
    let good = LayerStatistics {
        a: vec![0.5; 8],
        g: vec![0.1; 13],
    };
    assert!(matches!(
        run.opt.write_statistics("emb", &good),
        Err(Error::UnknownParameter(_))
    ));
    let short = LayerStatistics {
        a: vec![0.5; 7],
        g: vec![0.1; 13],
    };
    assert!(matches!(
        run.opt.write_statistics("fc.weight", &short),
        Err(Error::ShapeMismatch { .. })
    ));
    let nan = LayerStatistics {
        a: vec![f32::NAN; 8],
        g: vec![0.1; 13],
    };
    assert!(matches!(
        run.opt.write_statistics("fc.weight", &nan),
        Err(Error::InvalidInput(_))
    ));
    // Only one layer written: still refused.
    run.opt.write_statistics("fc.weight", &good).unwrap();
    assert!(matches!(
        run.opt.step(&mut run.params),
        Err(Error::OutOfOrder(_))
    ));
    // A 4-D tensor in a preconditioned group is no linear layer.
    let engine = engine();
    let conv = ParamSet::new(
        &engine,
        &[ParamSpec::new("conv.weight", &[2, 3, 3, 3], "pre")],
    )
    .unwrap();
    let e = Mkor::new(
        &conv,
        &[("pre".into(), MkorConfig::default())],
        GuardConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidHyperparameter(_)), "{e}");
    // Bad hyperparameters.
    for bad in [
        MkorConfig {
            inv_freq: 0,
            ..MkorConfig::default()
        },
        MkorConfig {
            clip: f64::NAN,
            ..MkorConfig::default()
        },
        MkorConfig {
            stabilization: 1.5,
            ..MkorConfig::default()
        },
    ] {
        let p = ParamSet::new(&engine, &[ParamSpec::new("w", &[3, 2], "pre")]).unwrap();
        assert!(Mkor::new(&p, &[("pre".into(), bad)], GuardConfig::default()).is_err());
    }
}

/// A NaN gradient on a factor step: skipped, and parameters, base state, factors and flags
/// stay bit-identical; the next steps match a reference that never saw it.
#[test]
fn nan_gradient_skips_the_step_and_changes_nothing() {
    let mut run = setup(MkorBase::Adam, None, 21);
    for _ in 0..3 {
        run.step();
    }
    let before = run.opt.save(&run.params).unwrap();
    let params_before = run.params.read_params_by_slot().unwrap();
    let layout = run.params.layout().clone();
    let mut grads: Vec<Vec<f32>> = layout.slots.iter().map(|s| vec![0.1; s.len]).collect();
    grads[0][3] = f32::NAN;
    let refs: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
    run.params.write_grads_by_slot(&refs).unwrap();
    assert!(run.opt.statistics_due());
    let stats = run.statistics();
    for (l, s) in run.reference.layers.clone().iter().zip(&stats) {
        run.opt
            .write_statistics(&layout.slots[l.weight].name, s)
            .unwrap();
    }
    run.opt.step(&mut run.params).unwrap();
    let s = run.opt.stats().unwrap();
    assert_eq!(s.found_inf, 1);
    assert_eq!(run.params.read_params_by_slot().unwrap(), params_before);
    let after = run.opt.save(&run.params).unwrap();
    let names = [
        "mkor.a_inv",
        "mkor.g_inv",
        "mkor.flags",
        "fc.weight.exp_avg",
        "emb.exp_avg_sq",
    ];
    assert_same_tensors(&before, &after, &names);
    // The reference never saw the skipped step; the trajectories continue together.
    let _ = run.rng.random::<u32>();
    for _ in 0..5 {
        run.step();
    }
    run.compare("after a skipped step");
}

/// A checkpoint taken between factor steps resumes the same trajectory; a checkpoint whose
/// reset flags are set (re-sealed) makes the next factor step the ζ-reset
/// `(1 − ζ)F⁻¹ + ζI` on both faces.
#[test]
fn checkpoint_resume_and_the_stabilizing_reset() {
    let mut run = setup(MkorBase::Sgd, None, 41);
    for _ in 0..10 {
        run.step();
    }
    let bytes = run.opt.save(&run.params).unwrap();
    let groups = groups_of(&run.params, |g| config(MkorBase::Sgd, g));
    let mut resumed = Mkor::new(&run.params, &groups, GuardConfig::default()).unwrap();
    resumed.load(&run.params, &bytes).unwrap();
    run.opt = resumed;
    for _ in 0..5 {
        run.step();
    }
    run.compare("resumed");

    // Set every reset flag in the checkpoint and in the reference, then run to the next
    // factor step and past it.
    let bytes = run.opt.save(&run.params).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap_or_default();
    let ones = vec![1.0f32; 2 * run.reference.layers.len()];
    let mut tensors: Vec<(String, Vec<u8>, Vec<usize>)> = file
        .tensors()
        .into_iter()
        .map(|(n, v)| (n.clone(), v.data().to_vec(), v.shape().to_vec()))
        .collect();
    for t in tensors.iter_mut().filter(|t| t.0 == "mkor.flags") {
        t.1 = bytemuck::cast_slice(&ones).to_vec();
    }
    wgopt_scheduler::files::seal(&mut meta, tensors.iter().map(|t| (t.0.as_str(), &t.1[..])));
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|t| {
            (
                t.0.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, t.2.clone(), &t.1)
                    .unwrap(),
            )
        })
        .collect();
    let edited = safetensors::serialize(views, Some(meta)).unwrap();
    run.opt.load(&run.params, &edited).unwrap();
    for f in run.reference.factors.iter_mut() {
        (f.a_reset, f.g_reset) = (true, true);
    }
    let before: Vec<f32> = run.reference.factors[0].a_inv.clone();
    while !run.reference.factor_step_due() {
        run.step();
    }
    run.step();
    // The reset mixed A⁻¹ toward I: off-diagonals shrank by exactly (1 − ζ) = 0.9.
    let after = &run.reference.factors[0].a_inv;
    assert!(
        (after[1] - 0.9 * before[1]).abs() <= 1e-7 * before[1].abs().max(1.0),
        "{} vs {}",
        after[1],
        before[1]
    );
    run.compare("after the ζ-reset");
}
