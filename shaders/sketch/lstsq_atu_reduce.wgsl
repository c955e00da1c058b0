// LSQR's short-vector half-step, pass 2: out[j] = Σ_c partial[c][j].

@group(0) @binding(0) var<uniform> params: LstsqParams;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= params.n) {
        return;
    }
    var s = 0.0;
    for (var c = 0u; c < params.chunks; c++) {
        s += partial[c * params.n + j];
    }
    out[j] = s;
}
