//! Which optimizers of the table run data-parallel, and how their parameters are cut.

use crate::plan::Cut;
use wgopt_optim::registry;

/// How an optimizer runs distributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Sharded like its state: an elementwise rule, any element range.
    Elements,
    /// Whole tensors to owners. `orthogonalised`: which parameters' updates are Newton–Schulz
    /// (their cost is FLOPs): every ≥2-D parameter (`AllMatrices`), the hybrid's first group
    /// (`Group`), or none.
    WholeTensors(Orthogonalised),
    /// Refused, with the reason.
    Refused(&'static str),
}

/// Which parameters a whole-tensor optimizer orthogonalises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orthogonalised {
    None,
    AllMatrices,
    Group(&'static str),
}

impl Support {
    pub fn cut(&self) -> Option<Cut> {
        match self {
            Support::Elements => Some(Cut::Elements),
            Support::WholeTensors(_) => Some(Cut::WholeTensors),
            Support::Refused(_) => None,
        }
    }
}

const HUTCHINSON: &str = "its Hutchinson probes are drawn by the optimizer per parameter slot, \
     and every rank's model would need the probes of each parameter's owner; not implemented";

/// How optimizer `name` of the table runs distributed (`None`: not in the table).
pub fn support(name: &str) -> Option<Support> {
    use Orthogonalised as O;
    use Support::*;
    let s = match name {
        "sgd" | "adam" | "adamw" | "radam" | "lion" | "adabelief" | "adan" | "diffgrad"
        | "adagrad" | "sophia-g" => Elements,
        "sophia-h" | "adahessian" => Refused(HUTCHINSON),
        "adamp" | "sgdp" | "sinkgd" => WholeTensors(O::None),
        "muon" | "root" | "polar-express" => WholeTensors(O::AllMatrices),
        "muon+adamw" | "root+adamw" | "polar-express+adamw" | "sinkgd+adamw" => {
            let first = registry::find(name).ok()?.recipe.labels()?.0;
            if name == "sinkgd+adamw" {
                WholeTensors(O::None)
            } else {
                WholeTensors(O::Group(first))
            }
        }
        "mfac" => Refused(
            "M-FAC's window of gradients spans every coordinate of every parameter: each \
             Sherman–Morrison step needs dot products over the whole gradient, an all-reduce \
             inside the recursion that this layer does not do",
        ),
        "frugal" => Refused(
            "FRUGAL draws its column subsets from Philox keyed on each parameter's slot in \
             the optimizer's parameter set; a rank's shard renumbers the slots, so the subsets \
             (and the trajectory) would silently differ from a single-process run",
        ),
        "mkor" => Refused(
            "MKOR's factors are updated from each layer's batch statistics, which every rank \
             would have to all-reduce before its factor step (upstream averages them across \
             workers); that reduction is not implemented",
        ),
        _ => return None,
    };
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every optimizer of the table is either supported or refused with a reason: a row
    /// added to the table fails here until it is classified.
    #[test]
    fn every_table_row_is_classified() {
        for name in registry::names() {
            assert!(
                support(name).is_some(),
                "{name} is not classified for distribution"
            );
        }
        assert_eq!(support("nope"), None);
    }
}
