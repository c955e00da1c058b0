// M-FAC 2/4: partial dot products of every window row with the newest one, one workgroup per
// (tile of MFAC_TILE vec4s, row); mfac_setup.wgsl sums the tiles in a fixed order.

const MFAC_WG: u32 = 128u;
const MFAC_TILE: u32 = 2048u;

@group(0) @binding(0) var<uniform> params: MfacParams;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<storage, read> window: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

var<workgroup> scratch: array<f32, MFAC_WG>;

@compute @workgroup_size(MFAC_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if (stats.found_inf != 0u) {
        return;
    }
    let t = wid.x;
    let i = wid.y;
    let newest = mfac_row(params) * params.width4;
    let lo = t * MFAC_TILE;
    let hi = min(lo + MFAC_TILE, params.width4);
    var s = 0.0;
    for (var e = lo + lid; e < hi; e += MFAC_WG) {
        s += dot(window[i * params.width4 + e], window[newest + e]);
    }
    scratch[lid] = s;
    workgroupBarrier();
    for (var w = MFAC_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            scratch[lid] += scratch[lid + w];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        partials[i * params.tiles + t] = scratch[0];
    }
}
