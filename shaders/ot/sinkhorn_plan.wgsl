// The dense transport plan P_ij = exp((f_i + g_j − C_ij)/ε) of every problem of a batch,
// row-major at plan_offsets[problem], one invocation per entry (x + y·65535·256 is the entry,
// z the problem).

const PLAN_WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> problems: array<OtProblem>;
@group(0) @binding(1) var<storage, read> cost: array<f32>;
@group(0) @binding(2) var<storage, read> pot: array<f32>;
@group(0) @binding(3) var<storage, read> plan_offsets: array<u32>;
@group(0) @binding(4) var<storage, read_write> plan: array<f32>;

@compute @workgroup_size(PLAN_WG)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let q = problems[wid.z];
    let e = gid.x + gid.y * nwg.x * PLAN_WG;
    if (e >= q.n * q.m) {
        return;
    }
    let i = e / q.m;
    let j = e % q.m;
    plan[plan_offsets[wid.z] + e] =
        exp((pot[q.f_off + i] + pot[q.g_off + j] - cost_at(q, i, j)) / q.eps);
}
