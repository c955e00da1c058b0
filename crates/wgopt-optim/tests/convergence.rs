//! Convergence smoke tests of every optimizer on two toy problems (spec validation target 8),
//! with deterministic seeds and no timing:
//!
//! - Rosenbrock f = (1 − x)² + 100(y − x²)² from (−2, 2) (f = 409), gradient-norm clip 1.0 as
//!   in the jettify/pytorch-optimizer protocol, 500 steps: every elementwise optimizer must
//!   bring f below 409/20.
//! - A noisy ill-conditioned quadratic on an 8×8 matrix, f = ½Σ hᵢ(wᵢ − w*ᵢ)² with hᵢ
//!   log-spaced over [0.1, 10] and Gaussian gradient noise σ = 0.1, 300 steps: every optimizer,
//!   the matrix ones (Muon, ROOT, SinkGD, AdamP, FRUGAL) included, must bring the mean of the
//!   last 20 losses below f₀/10.
//!
//! Curvature inputs are exact here: SophiaH and AdaHessian get the true Hessian-vector product
//! of their probes, SophiaG the square root of the Hessian diagonal as its "gradient on sampled
//! labels" (so its EMA tracks |diag H|). The learning rates are each method's usual order of
//! magnitude for such problems (two exceptions, commented at their entries); M-FAC on
//! Rosenbrock uses a window of 8 and λ = 0.01.

mod common;
use common::*;
use wgopt_optim::{
    registry, AdaHessian, AdaHessianConfig, Muon, MuonConfig, Optimizer, Root, SinkGd,
    SinkGdConfig, Sophia, SophiaConfig,
};
use wgopt_scheduler::{GuardConfig, ParamSet, ParamSpec};

/// How a problem's optimizer gets its curvature.
enum Driver {
    Plain(Box<dyn Optimizer>),
    Sophia(Box<Sophia>),
    AdaHessian(Box<AdaHessian>),
}

/// A problem: gradient and Hessian-vector product at w.
trait Problem {
    fn loss(&self, w: &[f32]) -> f64;
    fn grad(&self, w: &[f32], step: usize) -> Vec<f32>;
    fn hvp(&self, w: &[f32], v: &[f32]) -> Vec<f32>;
}

struct Rosenbrock;

impl Problem for Rosenbrock {
    fn loss(&self, w: &[f32]) -> f64 {
        let (x, y) = (w[0] as f64, w[1] as f64);
        (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)
    }
    fn grad(&self, w: &[f32], _: usize) -> Vec<f32> {
        let (x, y) = (w[0] as f64, w[1] as f64);
        vec![
            (-2.0 * (1.0 - x) - 400.0 * x * (y - x * x)) as f32,
            (200.0 * (y - x * x)) as f32,
        ]
    }
    fn hvp(&self, w: &[f32], v: &[f32]) -> Vec<f32> {
        let (x, y) = (w[0] as f64, w[1] as f64);
        let (hxx, hxy, hyy) = (2.0 - 400.0 * (y - 3.0 * x * x), -400.0 * x, 200.0);
        vec![
            (hxx * v[0] as f64 + hxy * v[1] as f64) as f32,
            (hxy * v[0] as f64 + hyy * v[1] as f64) as f32,
        ]
    }
}

struct NoisyQuadratic {
    h: Vec<f64>,
    target: Vec<f64>,
    noise: Vec<Vec<f32>>,
}

impl NoisyQuadratic {
    fn new(steps: usize) -> Self {
        let mut r = rng(42);
        let h = (0..64)
            .map(|i| 0.1 * 100f64.powf(i as f64 / 63.0))
            .collect();
        let target = normal_vec(&mut r, 64, 1.0)
            .into_iter()
            .map(|x| x as f64)
            .collect();
        let noise = (0..steps).map(|_| normal_vec(&mut r, 64, 0.1)).collect();
        NoisyQuadratic { h, target, noise }
    }
}

impl Problem for NoisyQuadratic {
    fn loss(&self, w: &[f32]) -> f64 {
        w.iter()
            .zip(&self.h)
            .zip(&self.target)
            .map(|((w, h), t)| 0.5 * h * (*w as f64 - t).powi(2))
            .sum()
    }
    fn grad(&self, w: &[f32], step: usize) -> Vec<f32> {
        (0..w.len())
            .map(|i| (self.h[i] * (w[i] as f64 - self.target[i])) as f32 + self.noise[step][i])
            .collect()
    }
    fn hvp(&self, _: &[f32], v: &[f32]) -> Vec<f32> {
        v.iter()
            .zip(&self.h)
            .map(|(v, h)| (*v as f64 * h) as f32)
            .collect()
    }
}

/// Runs `steps` steps; returns the losses after each.
fn run(
    problem: &dyn Problem,
    params: &mut ParamSet,
    driver: &mut Driver,
    steps: usize,
) -> Vec<f64> {
    let engine = params.engine().clone();
    let mut losses = Vec::with_capacity(steps);
    for s in 0..steps {
        let w = params.read_param("w").unwrap();
        params.write_grad("w", &problem.grad(&w, s)).unwrap();
        match driver {
            Driver::Plain(o) => o.step(params).unwrap(),
            Driver::AdaHessian(o) => {
                let z = o.probes().unwrap().read(&engine).unwrap().remove(0);
                let hz = problem.hvp(&w, &z);
                o.write_hvp(params, "w", &hz).unwrap();
                o.step(params).unwrap();
            }
            Driver::Sophia(o) => {
                o.step(params).unwrap();
                if o.hessian_due() {
                    let w = params.read_param("w").unwrap();
                    let est = match o.name() {
                        "sophia-h" => {
                            let u = o.probes().unwrap().read(&engine).unwrap().remove(0);
                            problem.hvp(&w, &u)
                        }
                        _ => {
                            let ones = vec![0f32; w.len()];
                            (0..w.len())
                                .map(|i| {
                                    let mut e = ones.clone();
                                    e[i] = 1.0;
                                    problem.hvp(&w, &e)[i].abs().sqrt()
                                })
                                .collect()
                        }
                    };
                    params.write_grad("w", &est).unwrap();
                    o.update_hessian(params).unwrap();
                }
            }
        }
        losses.push(problem.loss(&params.read_param("w").unwrap()));
    }
    losses
}

fn driver(name: &str, params: &ParamSet, lr: &str, guard: GuardConfig) -> Driver {
    let groups = |p: &ParamSet| p.layout().groups.clone();
    match name {
        "sophia-g" | "sophia-h" => {
            let base = if name == "sophia-g" {
                SophiaConfig::g()
            } else {
                SophiaConfig::h()
            };
            let cfg = SophiaConfig {
                lr: lr.parse().unwrap(),
                bs: 1.0,
                rho: if name == "sophia-g" { 1.0 } else { base.rho },
                weight_decay: 0.0,
                update_interval: 2,
                ..base
            };
            let g: Vec<_> = groups(params).into_iter().map(|l| (l, cfg)).collect();
            Driver::Sophia(Box::new(Sophia::with_seed(params, &g, guard, 1).unwrap()))
        }
        "adahessian" => {
            let cfg = AdaHessianConfig {
                lr: lr.parse().unwrap(),
                ..AdaHessianConfig::default()
            };
            let g: Vec<_> = groups(params).into_iter().map(|l| (l, cfg)).collect();
            Driver::AdaHessian(Box::new(
                AdaHessian::with_seed(params, &g, guard, 1).unwrap(),
            ))
        }
        "muon" | "root" => {
            let base = if name == "muon" {
                MuonConfig::default()
            } else {
                MuonConfig::root()
            };
            let cfg = MuonConfig {
                lr: lr.parse().unwrap(),
                ..base
            };
            let g: Vec<_> = groups(params)
                .into_iter()
                .map(|l| (l, cfg.clone()))
                .collect();
            Driver::Plain(if name == "muon" {
                Box::new(Muon::new(params, &g, guard).unwrap())
            } else {
                Box::new(Root::new(params, &g, guard).unwrap())
            })
        }
        "sinkgd" => {
            let cfg = SinkGdConfig {
                lr: lr.parse().unwrap(),
                ..SinkGdConfig::default()
            };
            let g: Vec<_> = groups(params).into_iter().map(|l| (l, cfg)).collect();
            Driver::Plain(Box::new(SinkGd::new(params, &g, guard).unwrap()))
        }
        _ => {
            let (lr, damp) = lr.split_once('/').unwrap_or((lr, "0.01"));
            let mut kv = vec![("lr", lr)];
            match name {
                "sgd" | "sgdp" => kv.push(("momentum", "0.9")),
                "mfac" => kv.extend([("ngrads", "8"), ("damp", damp)]),
                "frugal" => kv.extend([("update_gap", "50"), ("density", "0.5")]),
                "adamw" | "adamp" => kv.push(("weight_decay", "0")),
                _ => {}
            }
            Driver::Plain(registry::create(name, params, &kv, &[], guard).unwrap())
        }
    }
}

#[test]
fn every_elementwise_optimizer_descends_rosenbrock() {
    let engine = engine();
    let clip = GuardConfig {
        max_grad_norm: Some(1.0),
        skip_non_finite: true,
    };
    let cases = [
        ("sgd", "0.002"),
        ("adamw", "0.05"),
        ("lion", "0.005"),
        ("adabelief", "0.05"),
        ("adan", "0.05"),
        ("diffgrad", "0.05"),
        ("adagrad", "0.5"),
        ("sophia-g", "0.05"),
        ("sophia-h", "0.05"),
        // AdaHessian steps by lr·g/|diag H|, and Rosenbrock's Hessian is ~4000 at the start.
        ("adahessian", "10.0"),
        ("adamp", "0.05"),
        ("sgdp", "0.002"),
        ("mfac", "0.002"),
        ("frugal", "0.05"),
    ];
    let (mut report, mut failed): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for (name, lr) in cases {
        let mut params = ParamSet::new(&engine, &[ParamSpec::new("w", &[2], "all")]).unwrap();
        params.write_param("w", &[-2.0f32, 2.0]).unwrap();
        let mut d = driver(name, &params, lr, clip);
        let losses = run(&Rosenbrock, &mut params, &mut d, 500);
        let last = *losses.last().unwrap();
        report.push(format!("{name}: {last:.4}"));
        if last >= 409.0 / 20.0 {
            failed.push(format!(
                "{name} (lr {lr}): Rosenbrock loss {last} after 500 steps"
            ));
        }
    }
    println!("Rosenbrock after 500 steps: {}", report.join(", "));
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn every_optimizer_descends_a_noisy_quadratic() {
    let engine = engine();
    let steps = 300;
    let problem = NoisyQuadratic::new(steps);
    let cases = [
        ("sgd", "0.05"),
        ("adamw", "0.05"),
        ("lion", "0.005"),
        ("adabelief", "0.05"),
        ("adan", "0.05"),
        ("diffgrad", "0.05"),
        ("adagrad", "0.5"),
        ("sophia-g", "0.05"),
        ("sophia-h", "0.05"),
        ("adahessian", "0.3"),
        ("adamp", "0.05"),
        ("sgdp", "0.05"),
        // lr/damp: with λ = 1 the window's curvature matters (λ ≫ 1 would make it SGD).
        ("mfac", "0.3/1"),
        ("frugal", "0.05"),
        ("muon", "0.05"),
        ("root", "0.05"),
        ("sinkgd", "0.5"),
    ];
    let (mut report, mut failed): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for (name, lr) in cases {
        let mut params = ParamSet::new(&engine, &[ParamSpec::new("w", &[8, 8], "all")]).unwrap();
        params.write_param("w", &[0.0f32; 64]).unwrap();
        let f0 = problem.loss(&[0.0; 64]);
        let mut d = driver(name, &params, lr, GuardConfig::default());
        let losses = run(&problem, &mut params, &mut d, steps);
        let tail = losses[steps - 20..].iter().sum::<f64>() / 20.0;
        report.push(format!("{name}: {:.3}", tail / f0));
        if tail >= f0 / 10.0 {
            failed.push(format!(
                "{name} (lr {lr}): last-20 mean loss {tail} vs f0 {f0}"
            ));
        }
    }
    println!("noisy quadratic, last-20 mean / f0: {}", report.join(", "));
    assert!(failed.is_empty(), "{failed:#?}");
}
