//! Who owns what: the shard plan. Every rank computes the same plan from the same parameter
//! specs, so no plan is ever exchanged.
//!
//! Two ways to cut the parameters:
//! - [`Cut::Elements`] (elementwise optimizers): the parameters, concatenated in layout order,
//!   are cut into N contiguous ranges of equal length (rounded to 4 elements), so every rank
//!   holds the same bytes of state; a range may end inside a parameter, whose slice is then a
//!   1-D parameter of the rank's shard named `name[start..end]`.
//! - [`Cut::WholeTensors`] (Muon, ROOT, Polar Express, AdamP/SGDP, SinkGD and their hybrids):
//!   every parameter goes whole to one owner, by longest-processing-time-first on an estimate
//!   of its update's cost (Newton–Schulz FLOPs for orthogonalised matrices, 50 FLOP-equivalents
//!   per element otherwise), as distributed Muon implementations balance their owners.
//!
//! The exchange buffer lists every rank's pieces in rank order, so rank r's part is one
//! contiguous range for the reduce-scatter and the all-gather.

use wgopt_scheduler::ParamSpec;

/// How the parameters are cut among ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    Elements,
    WholeTensors,
}

/// One contiguous run of a parameter's elements, owned by one rank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Index of the parameter in the full specs.
    pub param: usize,
    /// First element and element count within the parameter.
    pub start: usize,
    pub len: usize,
    /// The piece's name in its owner's shard: the parameter's own name when whole.
    pub name: String,
}

/// The pieces of every rank, and where each lies in the exchange buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardPlan {
    pub cut: Cut,
    /// `ranks[r]`: rank r's pieces, in layout order.
    pub ranks: Vec<Vec<Piece>>,
    /// Elements per rank (MPI counts).
    pub counts: Vec<i32>,
    /// Offset of each rank's part in the exchange buffer.
    pub offsets: Vec<usize>,
    /// Offset of each piece in the exchange buffer, rank by rank, piece by piece.
    pub piece_offsets: Vec<Vec<usize>>,
    /// Estimated update cost per rank (what the whole-tensor cut balances).
    pub costs: Vec<f64>,
}

impl ShardPlan {
    /// The plan for `world` ranks. `orthogonalised(i)` says whether parameter i's update is
    /// a Newton–Schulz orthogonalisation (its cost is then FLOPs, not elements).
    pub fn new(
        specs: &[ParamSpec],
        world: usize,
        cut: Cut,
        orthogonalised: &dyn Fn(usize) -> bool,
    ) -> ShardPlan {
        let cost = |i: usize| tensor_cost(&specs[i], orthogonalised(i));
        let ranks = match cut {
            Cut::Elements => cut_elements(specs, world),
            Cut::WholeTensors => cut_whole(specs, world, &cost),
        };
        let counts: Vec<i32> = ranks
            .iter()
            .map(|p| p.iter().map(|x| x.len).sum::<usize>() as i32)
            .collect();
        let offsets = crate::comm::displacements(&counts)
            .into_iter()
            .map(|d| d as usize)
            .collect::<Vec<_>>();
        let piece_offsets = ranks
            .iter()
            .zip(&offsets)
            .map(|(pieces, &o)| {
                pieces
                    .iter()
                    .scan(o, |acc, p| {
                        let at = *acc;
                        *acc += p.len;
                        Some(at)
                    })
                    .collect()
            })
            .collect();
        let costs = ranks
            .iter()
            .map(|pieces| {
                pieces
                    .iter()
                    .map(|p| cost(p.param) * p.len as f64 / specs[p.param].numel() as f64)
                    .sum()
            })
            .collect();
        ShardPlan {
            cut,
            ranks,
            counts,
            offsets,
            piece_offsets,
            costs,
        }
    }

    /// Elements in the exchange buffer (every parameter once).
    pub fn total(&self) -> usize {
        self.counts.iter().map(|&c| c as usize).sum()
    }

    /// Rank `rank`'s shard as parameter specs (the group of each piece's parameter).
    pub fn shard_specs(&self, specs: &[ParamSpec], rank: usize) -> Vec<ParamSpec> {
        self.ranks[rank]
            .iter()
            .map(|p| {
                let s = &specs[p.param];
                if p.len == s.numel() {
                    s.clone()
                } else {
                    ParamSpec::new(p.name.clone(), &[p.len], s.group.clone())
                }
            })
            .collect()
    }
}

/// Newton–Schulz FLOPs for an m×n matrix (m ≤ n), five quintic iterations of
/// A = XXᵀ (2m²n), B = bA + cA² (2m³), X ← aX + BX (2m²n); else 50 per element.
fn tensor_cost(spec: &ParamSpec, orthogonalised: bool) -> f64 {
    let n_el = spec.numel() as f64;
    if !orthogonalised || spec.shape.len() < 2 {
        return 50.0 * n_el;
    }
    let rows = spec.shape[0] as f64;
    let cols = n_el / rows;
    let (m, n) = (rows.min(cols), rows.max(cols));
    5.0 * (4.0 * m * m * n + 2.0 * m * m * m)
}

/// N contiguous ranges of the concatenated parameters, equal up to rounding to 4 elements.
fn cut_elements(specs: &[ParamSpec], world: usize) -> Vec<Vec<Piece>> {
    let total: usize = specs.iter().map(ParamSpec::numel).sum();
    let bound = |r: usize| ((total * r / world) / 4 * 4).min(total);
    let mut ranks = vec![Vec::new(); world];
    let mut base = 0; // first element of parameter i in the concatenation
    for (i, s) in specs.iter().enumerate() {
        let (lo, hi) = (base, base + s.numel());
        for (r, pieces) in ranks.iter_mut().enumerate() {
            let (a, b) = (
                bound(r).max(lo),
                if r + 1 == world { total } else { bound(r + 1) }.min(hi),
            );
            if a < b {
                let (start, len) = (a - lo, b - a);
                let name = if len == s.numel() {
                    s.name.clone()
                } else {
                    format!("{}[{}..{}]", s.name, start, start + len)
                };
                pieces.push(Piece {
                    param: i,
                    start,
                    len,
                    name,
                });
            }
        }
        base = hi;
    }
    ranks
}

/// Whole tensors to owners, heaviest first, each to the least-loaded rank (lowest on ties).
fn cut_whole(specs: &[ParamSpec], world: usize, cost: &dyn Fn(usize) -> f64) -> Vec<Vec<Piece>> {
    let mut order: Vec<usize> = (0..specs.len()).collect();
    order.sort_by(|&a, &b| cost(b).total_cmp(&cost(a)).then(a.cmp(&b)));
    let mut load = vec![0.0f64; world];
    let mut owner = vec![0usize; specs.len()];
    for i in order {
        let r = (0..world)
            .min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b)))
            .unwrap_or(0);
        load[r] += cost(i);
        owner[i] = r;
    }
    let mut ranks = vec![Vec::new(); world];
    for (i, s) in specs.iter().enumerate() {
        ranks[owner[i]].push(Piece {
            param: i,
            start: 0,
            len: s.numel(),
            name: s.name.clone(),
        });
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<ParamSpec> {
        vec![
            ParamSpec::new("a", &[7, 5], "g"),
            ParamSpec::new("b", &[3], "h"),
            ParamSpec::new("c", &[64, 32], "g"),
            ParamSpec::new("d", &[13], "h"),
        ]
    }

    /// Every element of every parameter is owned exactly once, and the exchange offsets tile
    /// the buffer.
    fn check_cover(plan: &ShardPlan, specs: &[ParamSpec]) {
        let mut seen: Vec<Vec<u8>> = specs.iter().map(|s| vec![0; s.numel()]).collect();
        for pieces in &plan.ranks {
            for p in pieces {
                for e in &mut seen[p.param][p.start..p.start + p.len] {
                    *e += 1;
                }
            }
        }
        assert!(seen.iter().flatten().all(|&c| c == 1));
        assert_eq!(
            plan.total(),
            specs.iter().map(ParamSpec::numel).sum::<usize>()
        );
        for r in 0..plan.ranks.len() {
            let mut at = plan.offsets[r];
            for (p, &o) in plan.ranks[r].iter().zip(&plan.piece_offsets[r]) {
                assert_eq!(o, at);
                at += p.len;
            }
        }
    }

    #[test]
    fn element_cut_is_balanced_and_covers() {
        let s = specs();
        for world in 1..=5 {
            let plan = ShardPlan::new(&s, world, Cut::Elements, &|_| false);
            check_cover(&plan, &s);
            let (lo, hi) = (
                plan.counts.iter().min().unwrap(),
                plan.counts.iter().max().unwrap(),
            );
            assert!(hi - lo <= 4 + 3, "world {world}: counts {:?}", plan.counts);
            for spec in plan.shard_specs(&s, world - 1) {
                assert!(spec.numel() > 0);
            }
        }
        let plan = ShardPlan::new(&s, 3, Cut::Elements, &|_| false);
        assert_eq!(plan.ranks[0][2].name, "c[0..658]");
    }

    #[test]
    fn whole_cut_keeps_tensors_whole_and_balances_flops() {
        let s = specs();
        let plan = ShardPlan::new(&s, 2, Cut::WholeTensors, &|i| i == 0 || i == 2);
        check_cover(&plan, &s);
        assert!(plan
            .ranks
            .iter()
            .flatten()
            .all(|p| p.start == 0 && p.len == s[p.param].numel()));
        // The 64×32 matrix dominates: it is alone on rank 0, everything else on rank 1.
        assert_eq!(plan.ranks[0].len(), 1);
        assert_eq!(plan.ranks[0][0].param, 2);
        assert_eq!(plan.shard_specs(&s, 0)[0], s[2]);
    }
}
