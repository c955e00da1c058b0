//! The exact assignment problem (Kuhn–Munkres with potentials, O(n³)): between two uniform
//! measures of n points each, optimal transport is a permutation, so this is the exact OT
//! oracle for Sinkhorn's ε → 0 limit.

/// The minimum-cost assignment of an n×n cost matrix: (row → column, total cost).
pub fn assignment(n: usize, cost: &[f64]) -> (Vec<usize>, f64) {
    assert_eq!(cost.len(), n * n, "cost must be n×n");
    // 1-based arrays as in the classical potentials formulation.
    let inf = f64::INFINITY;
    let (mut u, mut v) = (vec![0.0; n + 1], vec![0.0; n + 1]);
    let mut p = vec![0usize; n + 1];
    let mut way = vec![0usize; n + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![inf; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = inf;
            let mut j1 = 0;
            for j in 1..=n {
                if !used[j] {
                    let cur = cost[(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut row_to_col = vec![0usize; n];
    for j in 1..=n {
        if p[j] > 0 {
            row_to_col[p[j] - 1] = j - 1;
        }
    }
    let total = (0..n).map(|i| cost[i * n + row_to_col[i]]).sum();
    (row_to_col, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against brute force over every permutation of 6.
    #[test]
    fn matches_brute_force() {
        let n = 6;
        let mut s = 7u64;
        let cost: Vec<f64> = (0..n * n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                (s >> 40) as f64 / (1u64 << 24) as f64
            })
            .collect();
        let (perm, total) = assignment(n, &cost);
        let mut best = f64::INFINITY;
        let mut idx: Vec<usize> = (0..n).collect();
        permute(&mut idx, 0, &mut |p| {
            best = best.min((0..n).map(|i| cost[i * n + p[i]]).sum());
        });
        assert!((total - best).abs() < 1e-12);
        let mut seen = perm.clone();
        seen.sort();
        assert_eq!(seen, (0..n).collect::<Vec<_>>());
    }

    fn permute(v: &mut Vec<usize>, k: usize, f: &mut impl FnMut(&[usize])) {
        if k == v.len() {
            f(v);
            return;
        }
        for i in k..v.len() {
            v.swap(k, i);
            permute(v, k + 1, f);
            v.swap(k, i);
        }
    }
}
