//! Quickstart: fit a small MLP to y = sin(3x) with AdamW on the GPU.
//!
//! The forward and backward passes run on the CPU in plain Rust (a model engine would do them
//! anywhere); wgopt holds the parameters, takes the gradients and applies the fused AdamW step
//! on the GPU, one submit per step. Prints the loss as it falls.
//!
//! Run: `cargo xtask demo` (installs a software Vulkan driver if no adapter exists), or
//! `cargo run --release --example quickstart`.

use anyhow::Result;
use wgopt::prelude::*;

const HIDDEN: usize = 64;
const BATCH: usize = 256;
const STEPS: usize = 600;

/// Parameters in host memory, for the CPU forward/backward.
struct Mlp {
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
}

/// Mean squared error and its gradients for a 1 → HIDDEN (tanh) → 1 network.
fn loss_and_grads(m: &Mlp, xs: &[f32], ys: &[f32]) -> (f32, [Vec<f32>; 4]) {
    let mut g = [
        vec![0.0; HIDDEN],
        vec![0.0; HIDDEN],
        vec![0.0; HIDDEN],
        vec![0.0; 1],
    ];
    let mut loss = 0.0;
    let n = xs.len() as f32;
    for (&x, &y) in xs.iter().zip(ys) {
        let h: Vec<f32> = (0..HIDDEN)
            .map(|j| (m.w1[j] * x + m.b1[j]).tanh())
            .collect();
        let out: f32 = h.iter().zip(&m.w2).map(|(a, b)| a * b).sum::<f32>() + m.b2[0];
        let d = out - y;
        loss += d * d / n;
        let dout = 2.0 * d / n;
        g[3][0] += dout;
        for j in 0..HIDDEN {
            g[2][j] += dout * h[j];
            let dh = dout * m.w2[j] * (1.0 - h[j] * h[j]);
            g[0][j] += dh * x;
            g[1][j] += dh;
        }
    }
    (loss, g)
}

/// AdamW with weight decay on the weights only (the router's two groups), gradient clipping at
/// norm 1, NaN/Inf steps skipped, and 30 warm-up steps into a cosine decay.
fn adamw_with_decay_groups(params: &ParamSet, lr: f64) -> Result<Adam> {
    let mut opt = Adam::new(
        params,
        &[
            (
                "decay".into(),
                AdamConfig {
                    lr,
                    weight_decay: 1e-4,
                    ..AdamConfig::adamw()
                },
            ),
            (
                "no_decay".into(),
                AdamConfig {
                    lr,
                    weight_decay: 0.0,
                    ..AdamConfig::adamw()
                },
            ),
        ],
        GuardConfig {
            max_grad_norm: Some(1.0),
            skip_non_finite: true,
        },
    )?;
    opt.set_schedule(Schedule::warmup(
        30,
        Schedule::Cosine {
            total: (STEPS - 30) as u64,
            floor: 0.05,
        },
    ))?;
    Ok(opt)
}

fn main() -> Result<()> {
    env_logger::init();
    let engine = Engine::new()?;
    println!("wgopt quickstart on {}", engine.adapter());

    let shapes: [(&str, &[usize]); 4] = [
        ("w1", &[HIDDEN, 1]),
        ("b1", &[HIDDEN]),
        ("w2", &[1, HIDDEN]),
        ("b2", &[1]),
    ];
    let specs = Router::decay_split().specs(shapes);
    let mut params = ParamSet::new(&engine, &specs)?;
    // Deterministic initialisation (a tiny LCG keeps the example dependency-free).
    let mut seed = 12345u64;
    let mut uniform = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let init: Vec<Vec<f32>> = vec![
        (0..HIDDEN).map(|_| uniform() * 2.0).collect(),
        (0..HIDDEN).map(|_| uniform()).collect(),
        (0..HIDDEN)
            .map(|_| uniform() / (HIDDEN as f32).sqrt())
            .collect(),
        vec![0.0],
    ];
    for ((name, _), v) in shapes.iter().zip(&init) {
        params.write_param(name, v)?;
    }

    let lr = 1e-2;
    let mut opt = adamw_with_decay_groups(&params, lr)?;

    let mut first = None;
    let mut last = 0.0;
    for step in 0..STEPS {
        let values = params.read_params_by_slot()?;
        let m = Mlp {
            w1: values[params.layout().index_of("w1")?].clone(),
            b1: values[params.layout().index_of("b1")?].clone(),
            w2: values[params.layout().index_of("w2")?].clone(),
            b2: values[params.layout().index_of("b2")?].clone(),
        };
        let xs: Vec<f32> = (0..BATCH).map(|_| uniform() * 1.5).collect();
        let ys: Vec<f32> = xs.iter().map(|x| (3.0 * x).sin()).collect();
        let (loss, g) = loss_and_grads(&m, &xs, &ys);
        for ((name, _), gi) in shapes.iter().zip(&g) {
            params.write_grad(name, gi)?;
        }
        let lr_now = lr * opt.lr_multiplier();
        opt.step(&mut params)?;
        first.get_or_insert(loss);
        last = loss;
        if step % 50 == 0 || step == STEPS - 1 {
            let stats = opt.stats()?;
            println!(
                "step {step:4}  loss {loss:.5}  grad-norm {:.4}  lr {:.2e}",
                stats.grad_norm, lr_now
            );
        }
    }
    let first = first.unwrap_or(last);
    println!("loss fell from {first:.4} to {last:.5} in {STEPS} AdamW steps on the GPU");
    if last >= first {
        anyhow::bail!("the loss did not fall");
    }
    Ok(())
}
