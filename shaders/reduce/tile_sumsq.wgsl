// Stage 1 of the step guard's reduction: each workgroup reduces one tile (a slice of one
// parameter's gradient, at most TILE_VEC4 vec4s) to its sum of squares, its sum of absolute
// values (same loads: the ℓ1 norm costs no extra pass) and a non-finite flag.
// Tiles never straddle parameters, so stage 2 (guard_finalize.wgsl) can also report
// per-parameter norms. Workgroups are laid out 2-D so more than 65535 tiles fit one dispatch.
// Order of summation is fixed, so the result is the same on every run.

const TILE_WG: u32 = 128u;

// Rust twin: wgopt_scheduler::guard::Tile.
struct Tile {
    start: u32,
    end: u32,
    out: u32,
    // 1: a tile of an extra input (Hessian-vector products): NaN/Inf count, the norm does not.
    finite_only: u32,
}

@group(0) @binding(0) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> tiles: array<Tile>;
@group(0) @binding(2) var<storage, read_write> partials: array<Partial>;

var<workgroup> scratch_sum: array<f32, TILE_WG>;
var<workgroup> scratch_abs: array<f32, TILE_WG>;
var<workgroup> scratch_bad: array<u32, TILE_WG>;

@compute @workgroup_size(TILE_WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = wid.x + wid.y * nwg.x;
    if (t >= arrayLength(&tiles)) {
        return;
    }
    let tile = tiles[t];
    var s = 0.0;
    var a = 0.0;
    var bad = 0u;
    for (var i = tile.start + lid; i < tile.end; i += TILE_WG) {
        let v = grad[i];
        s += dot(v, v);
        a += dot(abs(v), vec4<f32>(1.0));
        if (any_non_finite4(v)) {
            bad = 1u;
        }
    }
    scratch_sum[lid] = s;
    scratch_abs[lid] = a;
    scratch_bad[lid] = bad;
    workgroupBarrier();
    for (var w = TILE_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            scratch_sum[lid] += scratch_sum[lid + w];
            scratch_abs[lid] += scratch_abs[lid + w];
            scratch_bad[lid] = scratch_bad[lid] | scratch_bad[lid + w];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let sumsq = select(scratch_sum[0], 0.0, tile.finite_only != 0u);
        let abs_sum = select(scratch_abs[0], 0.0, tile.finite_only != 0u);
        partials[tile.out] = Partial(sumsq, scratch_bad[0], abs_sum, 0u);
    }
}
