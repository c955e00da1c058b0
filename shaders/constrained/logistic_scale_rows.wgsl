// The logistic Hessian's factor: xs = diag(√w)·X, row i of X scaled by the square root of its
// curvature weight w_i = σ(t_i)(1 − σ(t_i))/N (≥ 0, from logistic_weights.wgsl at the current
// θ), so that the symmetric Gram xsᵀ·xs (linalg/gram.wgsl) is ∇²f = Xᵀ·diag(w)·X in one launch.
// Reference twin: wgopt_reference::gns::assemble over the reference logistic problem's
// Hessian products (f64).

// Rust twin: wgopt_solvers::logistic::ScaleRowsParams.
struct ScaleRowsParams {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: ScaleRowsParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> curvature: array<f32>;
@group(0) @binding(3) var<storage, read_write> xs: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= params.rows * params.cols) {
        return;
    }
    xs[i] = x[i] * sqrt(curvature[i / params.cols]);
}
