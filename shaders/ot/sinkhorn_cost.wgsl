// The cost C_ij of a Sinkhorn problem, from a dense matrix or evaluated from two point clouds
// (O(n + m) memory), for the kernels that read `cost` (composed after sinkhorn_common.wgsl).

// COST: 0 dense (C row-major at cost_off, Cᵀ at costt_off), 1 ‖x − y‖², 2 ‖x − y‖_p^p
// (x: n×d at cost_off, y: m×d at costt_off).
override COST: u32 = 0u;

// C_ij of problem q.
fn cost_at(q: OtProblem, i: u32, j: u32) -> f32 {
    if (COST == 0u) {
        return cost[q.cost_off + i * q.m + j];
    }
    var s = 0.0;
    for (var k = 0u; k < q.d; k += 1u) {
        let t = cost[q.cost_off + i * q.d + k] - cost[q.costt_off + j * q.d + k];
        if (COST == 1u) {
            s += t * t;
        } else {
            s += pow(abs(t), q.p);
        }
    }
    return s;
}

// C_ij read along a column (contiguous in i for dense problems, through Cᵀ).
fn cost_col(q: OtProblem, i: u32, j: u32) -> f32 {
    if (COST == 0u) {
        return cost[q.costt_off + j * q.n + i];
    }
    return cost_at(q, i, j);
}
