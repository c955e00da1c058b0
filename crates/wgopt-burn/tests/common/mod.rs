//! A small burn MLP, fixed data and the comparisons the tests share.
#![allow(dead_code)]

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::{activation::relu, Device, Tensor, TensorData};
use std::sync::OnceLock;
use wgopt_burn::SharedDevice;

/// burn's runtime is registered once per process; every test shares it.
pub fn shared() -> &'static SharedDevice {
    static SHARED: OnceLock<SharedDevice> = OnceLock::new();
    SHARED.get_or_init(|| SharedDevice::init().expect("burn's wgpu runtime on this machine"))
}

#[derive(Module, Debug)]
pub struct Mlp {
    pub hidden: Linear,
    pub out: Linear,
}

impl Mlp {
    /// 7 → 13 → 5 (odd sizes: tensors that do not fill a vec4 or a workgroup).
    pub fn new(device: &Device, bias: bool) -> Mlp {
        Mlp::sized(device, [7, 13, 5], bias)
    }

    /// `sizes[0]` → `sizes[1]` → `sizes[2]`.
    pub fn sized(device: &Device, sizes: [usize; 3], bias: bool) -> Mlp {
        Mlp {
            hidden: LinearConfig::new(sizes[0], sizes[1])
                .with_bias(bias)
                .init(device),
            out: LinearConfig::new(sizes[1], sizes[2])
                .with_bias(bias)
                .init(device),
        }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.out.forward(relu(self.hidden.forward(x)))
    }
}

/// Deterministic inputs and targets (a fixed LCG, no RNG dependency).
pub fn batch(device: &Device, step: usize, [d_in, d_out]: [usize; 2]) -> (Tensor<2>, Tensor<2>) {
    let mut s = 0x9e37_79b9u32.wrapping_add(step as u32 * 7919);
    let mut next = move || {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
    };
    let x: Vec<f32> = (0..11 * d_in).map(|_| next()).collect();
    let y: Vec<f32> = (0..11 * d_out).map(|_| next()).collect();
    (
        Tensor::from_data(TensorData::new(x, [11, d_in]), device),
        Tensor::from_data(TensorData::new(y, [11, d_out]), device),
    )
}

/// The loss's gradients for step `step`'s batch (inputs 7 wide, targets 5).
pub fn grads_of(model: &Mlp, device: &Device, step: usize) -> GradientsParams {
    let (x, y) = batch(device, step, [7, 5]);
    let loss = (model.forward(x) - y).powf_scalar(2.0).mean();
    GradientsParams::from_grads(loss.backward(), model)
}

/// Every parameter's values, by path (reads back; tests only).
pub fn values(model: &Mlp) -> Vec<(String, Vec<f32>)> {
    let read = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().expect("f32 data");
    let read1 = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().expect("f32 data");
    let mut v = vec![
        ("hidden.weight".to_string(), read(model.hidden.weight.val())),
        ("out.weight".to_string(), read(model.out.weight.val())),
    ];
    if let Some(b) = &model.hidden.bias {
        v.push(("hidden.bias".into(), read1(b.val())));
    }
    if let Some(b) = &model.out.bias {
        v.push(("out.bias".into(), read1(b.val())));
    }
    v
}

/// Largest |a − b| over every parameter; fails on a non-finite value or a size mismatch.
pub fn max_diff(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> f32 {
    assert_eq!(a.len(), b.len());
    let mut worst = 0f32;
    for ((na, va), (nb, vb)) in a.iter().zip(b) {
        assert_eq!(na, nb);
        assert_eq!(va.len(), vb.len(), "{na}");
        for (x, y) in va.iter().zip(vb) {
            assert!(
                x.is_finite() && y.is_finite(),
                "{na}: non-finite {x} vs {y}"
            );
            worst = worst.max((x - y).abs());
        }
    }
    worst
}

/// A checkpoint's tensors (name, bytes) and metadata, sorted.
pub type Contents = (
    Vec<(String, Vec<u8>)>,
    std::collections::BTreeMap<String, String>,
);

/// A checkpoint's tensors and metadata, order-free (the header's key order is not fixed).
pub fn checkpoint_contents(bytes: &[u8]) -> Contents {
    let st = safetensors::SafeTensors::deserialize(bytes).expect("a safetensors file");
    let mut tensors: Vec<(String, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.data().to_vec()))
        .collect();
    tensors.sort();
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).expect("a header");
    let meta = meta
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    (tensors, meta)
}
