//! Criterion benches of the optimizer hot path: the CPU reference step and the GPU step
//! (recorded, submitted and waited for) over the same 1M parameters. GPU kernel times without
//! host overhead come from `cargo xtask bench-gpu` (timestamps); this measures what a training
//! loop sees end to end.

use criterion::{criterion_group, criterion_main, Criterion};
use wgopt::optim::registry;
use wgopt::reference::optim::MultiOptimizer;
use wgopt::{AdamConfig, Engine, GuardConfig, ParamSet, ParamSpec};

const N: usize = 1 << 20;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("adamw_1M");
    g.sample_size(10);
    let mut host = vec![vec![0.5f32; N]];
    let grads = vec![vec![0.25f32; N]];
    let mut cpu = MultiOptimizer::uniform(AdamConfig::adamw(), &[vec![N]]).expect("valid config");
    g.bench_function("cpu_reference", |b| {
        b.iter(|| cpu.step(1.0, &mut host, &grads).expect("step"))
    });

    let engine = match Engine::new() {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    };
    let mut params = ParamSet::new(&engine, &[ParamSpec::new("w", &[N], "all")]).expect("layout");
    params.write_param("w", &host[0]).expect("upload");
    params.write_grad("w", &grads[0]).expect("upload");
    let mut opt =
        registry::create("adamw", &params, &[], &[], GuardConfig::default()).expect("optimizer");
    g.bench_function("gpu_step_and_wait", |b| {
        b.iter(|| {
            opt.step(&mut params).expect("step");
            engine.wait().expect("wait");
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
