//! The f64 host passes the GPU solvers check their f32 iterates with: residuals of a dense
//! row-major f32 matrix, split across the CPU's cores (rayon). At 65536×1024 one pass reads
//! 256 MB; single-threaded it cost ~50 ms, which was most of a sketched least-squares solve's
//! time once the GPU did the products.

use rayon::prelude::*;
use wgopt_reference::sketch::dense::norm;

/// Rows per parallel task: large enough that the n-vector each task accumulates into
/// (Aᵀr) is cheap against the rows it reads.
const ROWS_PER_TASK: usize = 512;

/// ‖A‖_F² in f64.
pub(crate) fn frobenius_sq(a: &[f32]) -> f64 {
    a.par_chunks(1 << 16)
        .map(|c| c.iter().map(|&v| v as f64 * v as f64).sum::<f64>())
        .sum()
}

/// `b − A·x` in f64 for `A` (m × n row-major f32).
pub(crate) fn residual<X: Copy + Into<f64> + Sync>(
    a: &[f32],
    b: &[f32],
    x: &[X],
    n: usize,
) -> Vec<f64> {
    a.par_chunks(n)
        .zip(b.par_iter())
        .map(|(row, &bi)| {
            bi as f64
                - row
                    .iter()
                    .zip(x)
                    .map(|(&p, &q)| p as f64 * q.into())
                    .sum::<f64>()
        })
        .collect()
}

/// `Aᵀ·r` in f64.
pub(crate) fn transpose_times(a: &[f32], r: &[f64], n: usize) -> Vec<f64> {
    a.par_chunks(n * ROWS_PER_TASK)
        .zip(r.par_chunks(ROWS_PER_TASK))
        .map(|(rows, rs)| {
            let mut acc = vec![0.0; n];
            for (row, &ri) in rows.chunks_exact(n).zip(rs) {
                for (t, &p) in acc.iter_mut().zip(row) {
                    *t += p as f64 * ri;
                }
            }
            acc
        })
        .reduce(
            || vec![0.0; n],
            |mut s, t| {
                s.iter_mut().zip(&t).for_each(|(p, q)| *p += q);
                s
            },
        )
}

/// ‖A x − b‖ / ‖b‖ in f64 (the GPU iterative solvers' convergence check).
pub(crate) fn relative_residual(a: &[f32], b: &[f32], x: &[f32], n: usize) -> f64 {
    let r = residual(a, b, x, n);
    let bn = b.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
    norm(&r) / bn.max(f64::MIN_POSITIVE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parallel passes against a plain loop on a shape that is not a multiple of the
    /// task size (1300 rows = 2 full tasks + 276): equal to f64 rounding, since only the
    /// order of the Aᵀr partial sums differs (tolerance 1e-12 relative).
    #[test]
    fn parallel_passes_match_a_plain_loop() {
        let (m, n) = (1300, 7);
        let a: Vec<f32> = (0..m * n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 31.0)
            .collect();
        let b: Vec<f32> = (0..m).map(|i| (i % 13) as f32 - 6.0).collect();
        let x: Vec<f64> = (0..n).map(|j| 0.1 * j as f64 - 0.3).collect();
        let r = residual(&a, &b, &x, n);
        let atr = transpose_times(&a, &r, n);
        let mut want = vec![0.0; n];
        for i in 0..m {
            let ri = b[i] as f64 - (0..n).map(|j| a[i * n + j] as f64 * x[j]).sum::<f64>();
            assert!((r[i] - ri).abs() <= 1e-12 * ri.abs().max(1.0));
            for j in 0..n {
                want[j] += a[i * n + j] as f64 * ri;
            }
        }
        for (g, w) in atr.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-12 * w.abs().max(1.0), "{g} vs {w}");
        }
        let fro: f64 = a.iter().map(|&v| v as f64 * v as f64).sum();
        assert!((frobenius_sq(&a) - fro).abs() <= 1e-12 * fro);
    }
}
