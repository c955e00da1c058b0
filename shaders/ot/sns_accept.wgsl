// Accepts a line-search trial: slot 1's potentials, marginals and scalars become slot 0's, one
// invocation per unknown.

const ELEMENT_WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> problems: array<OtProblem>;
@group(0) @binding(1) var<storage, read_write> pot: array<f32>;
@group(0) @binding(2) var<storage, read_write> marg: array<f32>;
@group(0) @binding(3) var<storage, read_write> scalars: array<f32>;

@compute @workgroup_size(ELEMENT_WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let cur = problems[0];
    let trial = problems[1];
    let k = gid.x;
    if (k < 4u) {
        scalars[S_ERR + k] = scalars[S_ERR + 4u + k];
    }
    if (k < cur.n + cur.m) {
        pot[cur.f_off + k] = pot[trial.f_off + k];
        marg[cur.f_off + k] = marg[trial.f_off + k];
    }
}
