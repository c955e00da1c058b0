//! Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2, 3",
//! SC'11), the counter-based generator every random draw in wgopt comes from. Twin of
//! `shaders/common/philox.wgsl`: the same (key, counter) gives the same four words on the CPU and
//! on any GPU, so probes and sketches drawn on the GPU can be regenerated here bit for bit.
//!
//! Streams. A tensor's random vector is addressed, not sequenced: element `e` of parameter slot
//! `slot` in draw number `draw` of stream `stream` takes word `e % 4` of
//! `philox4x32_10([e / 4, slot, draw, stream], [seed_lo, seed_hi])`. Nothing depends on how the
//! arena is cut into chunks or on the order threads run.
//!
//! Conversions (identical in WGSL): uniform is `((w >> 9) + 0.5)·2⁻²³`, exact in f32 and inside
//! (0, 1); Rademacher is ±1 from the top bit; Gaussian is Box–Muller over word pairs (0, 1) and
//! (2, 3), the cosine and sine branch for consecutive elements. The bits, uniforms and Rademacher
//! signs are bit-identical on every adapter. The Gaussians go through `log`, `cos` and `sin`,
//! which Vulkan lets a GPU compute to within a small absolute error (2⁻¹¹ for `cos`/`sin` on
//! [−π, π]), so they agree to that tolerance rather than bit for bit.

use serde::{Deserialize, Serialize};

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = a as u64 * b as u64;
    ((p >> 32) as u32, p as u32)
}

/// One Philox4x32 block with 10 rounds.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// The key of a 64-bit seed.
pub fn key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// A word as a uniform float in (0, 1): the top 23 bits, centred in their cell (every step of
/// the computation is exact in f32).
pub fn uniform(w: u32) -> f32 {
    ((w >> 9) as f32 + 0.5) * (1.0 / 8_388_608.0)
}

/// A word as a Rademacher sign (±1, from the top bit).
pub fn rademacher(w: u32) -> f32 {
    if w & 0x8000_0000 != 0 {
        -1.0
    } else {
        1.0
    }
}

/// Two standard normals from two words (Box–Muller; the angle on [−π, π), where GPU `cos` and
/// `sin` have their stated accuracy).
pub fn gaussian_pair(a: u32, b: u32) -> (f32, f32) {
    let r = (-2.0 * uniform(a).ln()).sqrt();
    let theta = std::f32::consts::TAU * uniform(b) - std::f32::consts::PI;
    (r * theta.cos(), r * theta.sin())
}

/// What a random vector holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    /// Uniform on (0, 1).
    Uniform,
    /// ±1 with equal probability (Hutchinson probes for AdaHessian).
    Rademacher,
    /// Standard normal (SophiaH's probes, Gaussian sketches).
    Gaussian,
}

impl Distribution {
    /// The value of the override constant `DIST` in the WGSL kernels.
    pub fn code(self) -> u32 {
        match self {
            Distribution::Uniform => 0,
            Distribution::Rademacher => 1,
            Distribution::Gaussian => 2,
        }
    }
}

/// Where a random vector lives in the stream space (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamId {
    pub seed: u64,
    pub slot: u32,
    pub draw: u32,
    pub stream: u32,
}

/// The four values of block `block` of a stream.
pub fn block_values(dist: Distribution, id: StreamId, block: u32) -> [f32; 4] {
    let w = philox4x32_10([block, id.slot, id.draw, id.stream], key(id.seed));
    match dist {
        Distribution::Uniform => w.map(uniform),
        Distribution::Rademacher => w.map(rademacher),
        Distribution::Gaussian => {
            let (a, b) = gaussian_pair(w[0], w[1]);
            let (c, d) = gaussian_pair(w[2], w[3]);
            [a, b, c, d]
        }
    }
}

/// Fills `out` with elements `0..out.len()` of a stream.
pub fn fill(dist: Distribution, id: StreamId, out: &mut [f32]) {
    for (block, chunk) in out.chunks_mut(4).enumerate() {
        let v = block_values(dist, id, block as u32);
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

/// The raw words of blocks `0..blocks` with counter words 1–3 fixed (the GPU bit-stream twin).
pub fn bits(key: [u32; 2], c1: u32, c2: u32, c3: u32, blocks: u32) -> Vec<u32> {
    (0..blocks)
        .flat_map(|b| philox4x32_10([b, c1, c2, c3], key))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random123 `tests/kat_vectors`, the three `philox4x32 10` lines (counter, key, result).
    #[test]
    fn random123_known_answers() {
        let kat: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
            (
                [0; 4],
                [0; 2],
                [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
            ),
            (
                [u32::MAX; 4],
                [u32::MAX; 2],
                [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
            ),
            (
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0],
                [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
            ),
        ];
        for (ctr, key, want) in kat {
            assert_eq!(philox4x32_10(ctr, key), want, "ctr {ctr:x?} key {key:x?}");
        }
    }

    #[test]
    fn conversions_stay_in_range() {
        assert!(uniform(0) > 0.0 && uniform(u32::MAX) < 1.0);
        assert_eq!(uniform(0), 0.5 / 8_388_608.0);
        assert_eq!(rademacher(0), 1.0);
        assert_eq!(rademacher(u32::MAX), -1.0);
        let (a, b) = gaussian_pair(u32::MAX, 0);
        assert!(a.is_finite() && b.is_finite());
    }

    /// Moments of 2²⁰ draws: the mean of n i.i.d. values with variance σ² has standard error
    /// σ/√n ≈ 1e-3; 6 standard errors bound a false failure below 1e-8.
    #[test]
    fn moments_within_statistical_bounds() {
        let n = 1 << 20;
        let id = StreamId {
            seed: 42,
            slot: 3,
            draw: 7,
            stream: 1,
        };
        let mut v = vec![0.0; n];
        fill(Distribution::Rademacher, id, &mut v);
        let mean: f64 = v.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 6.0 / (n as f64).sqrt(),
            "Rademacher mean {mean}"
        );
        fill(Distribution::Gaussian, id, &mut v);
        let moment =
            |v: &[f32], k: i32| v.iter().map(|&x| (x as f64).powi(k)).sum::<f64>() / n as f64;
        let m = |k: i32| moment(&v, k);
        let se = 1.0 / (n as f64).sqrt();
        assert!(m(1).abs() < 6.0 * se, "Gaussian mean {}", m(1));
        // Var(x²) = 2, Var(x⁴) = 96 for a standard normal.
        assert!(
            (m(2) - 1.0).abs() < 6.0 * 2f64.sqrt() * se,
            "E x² = {}",
            m(2)
        );
        assert!(m(3).abs() < 6.0 * 15f64.sqrt() * se, "E x³ = {}", m(3));
        assert!(
            (m(4) - 3.0).abs() < 6.0 * 96f64.sqrt() * se,
            "E x⁴ = {}",
            m(4)
        );
        fill(Distribution::Uniform, id, &mut v);
        assert!((moment(&v, 1) - 0.5).abs() < 6.0 * (1.0f64 / 12.0).sqrt() * se);
    }
}
