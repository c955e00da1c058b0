//! The step moves nothing through the host and submits once. Alone in its binary: the engine's
//! counters are per process, and other tests stepping in parallel would add to them.

mod common;

use burn::module::Module;
use common::{shared, Mlp};
use wgopt_burn::WgoptConfig;

#[test]
fn the_step_moves_nothing_through_the_host_and_submits_once() {
    let device = shared().autodiff_device();
    let mut optim = WgoptConfig::new("adamw")
        .with("lr", 1e-2)
        .init(shared())
        .unwrap();
    let sizes = [64, 256, 32];
    let grads = |m: &Mlp, s: usize| {
        let (x, y) = common::batch(&device, s, [64, 32]);
        let loss = (m.forward(x) - y).powf_scalar(2.0).mean();
        burn::optim::GradientsParams::from_grads(loss.backward(), m)
    };
    let mut model = Mlp::sized(&device, sizes, true);
    let g = grads(&model, 0);
    model = optim.step(1e-2, model, g).unwrap();
    let numel = (64 * 256 + 256 + 256 * 32 + 32) as u64;
    let first = optim.last_copies();
    assert_eq!(
        first.params_in,
        4 * numel,
        "the first step copies burn's values in"
    );
    let engine = shared().engine();
    let before = engine.object_counts();
    for s in 1..4 {
        let g = grads(&model, s);
        model = optim.step(1e-2, model, g).unwrap();
    }
    let after = engine.object_counts();
    let report = optim.last_copies();
    assert_eq!(report.grads_in, 4 * numel);
    assert_eq!(report.params_out, 4 * numel);
    assert_eq!(
        report.params_in, 0,
        "burn holds the values wgopt wrote: nothing to copy in"
    );
    assert_eq!(report.params_forked, 0, "parameters are written in place");
    assert_eq!(
        after.host_bytes_down, before.host_bytes_down,
        "a step read back"
    );
    // Per step the host writes only the kernels' small tables (step number, learning rate per
    // group and chunk; measured 368 bytes for this model's two groups), never tensor data
    // (99 KB of gradients here): a bound independent of the model's size.
    let up = (after.host_bytes_up - before.host_bytes_up) / 3;
    assert!(up <= 1024, "{up} bytes uploaded per step");
    assert_eq!(
        after.device_copy_bytes - before.device_copy_bytes,
        3 * 8 * numel
    );
    assert_eq!(after.submits - before.submits, 3, "one submit per step");
    assert_eq!(
        after.objects(),
        before.objects(),
        "a step created GPU objects"
    );
    let _ = model.num_params();
}
