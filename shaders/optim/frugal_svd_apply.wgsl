// FRUGAL's SVD projector, the parameter update of one 2-D weight: p·(1 − lr·wd) minus the lifted
// AdamW update P⁻¹(U), minus the state-free rule (signSGD / SGD / nothing: RULE 0 / 1 / 2) on the
// residual clip·(G − P⁻¹(P(G))). `delta` holds [P⁻¹(P(G)) | P⁻¹(U)] of this weight (the lift
// GEMM's output, numel each; P(G) was taken from the raw gradient, hence the clip here).
// Reference twin: wgopt_reference::optim::frugal::svd::step.

override RULE: u32 = 0u;

const SVD_APPLY_WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> blocks: array<ElementBlock>;
@group(0) @binding(1) var<storage, read> params: array<FrugalParam>;
@group(0) @binding(2) var<storage, read> stats: StepStats;
@group(0) @binding(3) var<storage, read_write> param: array<f32>;
@group(0) @binding(4) var<storage, read> grad: array<f32>;
@group(0) @binding(5) var<storage, read> delta: array<f32>;

@compute @workgroup_size(SVD_APPLY_WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let b = wid.x + wid.y * nwg.x;
    if (b >= arrayLength(&blocks) || stats.found_inf != 0u) {
        return;
    }
    let blk = blocks[b];
    let q = params[blk.param];
    let clip = stats.clip_coef;
    for (var i = blk.start + lid; i < blk.end; i += SVD_APPLY_WG) {
        let e = blk.first_elem + i - blk.start;
        let residual = (grad[i] - delta[e]) * clip;
        var p = param[i] * q.decay - delta[q.numel + e];
        if (RULE == 0u) {
            p -= q.inactive_step * sign(residual);
        } else if (RULE == 1u) {
            p -= q.inactive_step * residual;
        }
        param[i] = p;
    }
}
