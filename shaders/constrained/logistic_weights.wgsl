// Constrained logistic regression's per-sample weights, between u = X·θ (or X·v) and Xᵀ·u
// (the least-squares kernels sketch/lstsq_av.wgsl and lstsq_atu*.wgsl do both products).
// Rust twin: wgopt_reference::constrained::logistic::LogisticProducts (f64).
//
// mode 0, at a new θ (u = X·θ): with the margin t = y·u,
//   loss[i] = log(1 + e^{−t})/N,            (the objective is Σ loss)
//   curvature[i] = σ(t)(1 − σ(t))/N,        (kept for the Hessian products at this θ)
//   u[i] = −y·σ(−t)/N                       (so Xᵀ·u is ∇f);
// mode 1, a Hessian product (u = X·v): u[i] = curvature[i]·u[i] (so Xᵀ·u is ∇²f·v).

struct LogisticParams {
    rows: u32,
    mode: u32,
    inv_n: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: LogisticParams;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> u: array<f32>;
@group(0) @binding(3) var<storage, read_write> curvature: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;

// σ(t) without overflow for either sign.
fn sigmoid(t: f32) -> f32 {
    if (t >= 0.0) {
        return 1.0 / (1.0 + exp(-t));
    }
    let e = exp(t);
    return e / (1.0 + e);
}

// log(1 + e^{−t}) without overflow: max(−t, 0) + log(1 + e^{−|t|}).
fn softplus_neg(t: f32) -> f32 {
    return max(-t, 0.0) + log(1.0 + exp(-abs(t)));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= params.rows) {
        return;
    }
    if (params.mode == 0u) {
        let t = y[i] * u[i];
        let s = sigmoid(t);
        loss[i] = softplus_neg(t) * params.inv_n;
        curvature[i] = s * (1.0 - s) * params.inv_n;
        u[i] = -y[i] * sigmoid(-t) * params.inv_n;
    } else {
        u[i] = curvature[i] * u[i];
    }
}
