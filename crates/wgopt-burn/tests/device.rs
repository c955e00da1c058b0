//! Device sharing the other way round (wgopt creates the device, burn registers it), and a
//! module from another device refused by name.

mod common;

use common::{grads_of, values, Mlp};
use wgopt_burn::{Error, SharedDevice, WgoptConfig};
use wgopt_scheduler::Engine;

#[test]
fn burn_trains_on_wgopts_device_and_a_foreign_module_is_refused() {
    let plain = Engine::new().expect("an adapter");
    let e = SharedDevice::from_engine(&plain).unwrap_err();
    assert!(e.to_string().contains("all_adapter_features"), "{e}");
    let ours = SharedDevice::init_from_wgopt().expect("burn accepts wgopt's device");
    let engine = ours.engine().clone();
    let device = ours.autodiff_device();
    let mut optim = WgoptConfig::new("adamw").init(&ours).unwrap();
    let mut model = Mlp::new(&device, true);
    let start = values(&model);
    for s in 0..3 {
        let g = grads_of(&model, &device, s);
        model = optim.step(1e-2, model, g).unwrap();
    }
    assert!(
        common::max_diff(&values(&model), &start) > 0.0,
        "nothing moved"
    );
    assert_eq!(optim.stats().unwrap().applied_steps, 3);

    // A module on burn's own default device handed to the optimizer on wgopt's.
    let theirs = common::shared().autodiff_device();
    let foreign = Mlp::new(&theirs, true);
    let mut fresh = WgoptConfig::new("adamw").init(&ours).unwrap();
    let g = grads_of(&foreign, &theirs, 0);
    let r = fresh.step(1e-2, foreign, g).unwrap_err();
    assert!(matches!(r.error, Error::WrongDevice { .. }), "{}", r.error);

    let bare = Engine::from_wgpu(engine.device().clone(), engine.queue().clone());
    assert!(
        SharedDevice::from_engine(&bare).is_err(),
        "a bare device has no adapter to share"
    );
}
