//! Routing parameters to groups by name or shape, e.g. "no weight decay for biases and norms",
//! or (later) "Muon for hidden matrices, AdamW for the rest". Rules are tried in order; the
//! first match wins, otherwise the default group.

use wgopt_scheduler::ParamSpec;

/// A predicate on a parameter's name and shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    Any,
    NameContains(String),
    NameEndsWith(String),
    /// At most this many dimensions (1 catches biases and norm gains).
    NdimAtMost(usize),
    /// At least this many dimensions.
    NdimAtLeast(usize),
}

impl Matcher {
    pub fn matches(&self, name: &str, shape: &[usize]) -> bool {
        match self {
            Matcher::Any => true,
            Matcher::NameContains(s) => name.contains(s.as_str()),
            Matcher::NameEndsWith(s) => name.ends_with(s.as_str()),
            Matcher::NdimAtMost(n) => shape.len() <= *n,
            Matcher::NdimAtLeast(n) => shape.len() >= *n,
        }
    }
}

/// Ordered rules from parameters to group labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Router {
    rules: Vec<(Matcher, String)>,
    default: String,
}

impl Router {
    /// Every parameter in `default` until rules say otherwise.
    pub fn new(default: impl Into<String>) -> Router {
        Router {
            rules: Vec::new(),
            default: default.into(),
        }
    }

    /// Adds a rule (checked after the earlier ones).
    pub fn rule(mut self, matcher: Matcher, group: impl Into<String>) -> Router {
        self.rules.push((matcher, group.into()));
        self
    }

    /// The usual split: tensors with at most one dimension (biases, norm gains) and names
    /// containing "norm" or "bias" go to "no_decay", everything else to "decay".
    pub fn decay_split() -> Router {
        Router::new("decay")
            .rule(Matcher::NdimAtMost(1), "no_decay")
            .rule(Matcher::NameContains("norm".into()), "no_decay")
            .rule(Matcher::NameContains("bias".into()), "no_decay")
    }

    /// The split of the matrix optimizers' hybrids: parameters with at least 2 dimensions go
    /// to `matrices`, except embeddings and the output head (names containing "embed", "wte",
    /// "wpe" or "head"), which join 1-D parameters in "adamw".
    pub fn matrices(matrices: &str) -> Router {
        Router::new(matrices)
            .rule(Matcher::NdimAtMost(1), "adamw")
            .rule(Matcher::NameContains("embed".into()), "adamw")
            .rule(Matcher::NameContains("wte".into()), "adamw")
            .rule(Matcher::NameContains("wpe".into()), "adamw")
            .rule(Matcher::NameContains("head".into()), "adamw")
    }

    /// The group of one parameter.
    pub fn assign(&self, name: &str, shape: &[usize]) -> &str {
        self.rules
            .iter()
            .find(|(m, _)| m.matches(name, shape))
            .map_or(self.default.as_str(), |(_, g)| g.as_str())
    }

    /// Parameter specs with their groups assigned.
    pub fn specs<'a>(
        &self,
        params: impl IntoIterator<Item = (&'a str, &'a [usize])>,
    ) -> Vec<ParamSpec> {
        params
            .into_iter()
            .map(|(n, s)| ParamSpec::new(n, s, self.assign(n, s)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_split_routes_biases_norms_and_matrices() {
        let r = Router::decay_split();
        assert_eq!(r.assign("h.0.mlp.w", &[8, 32]), "decay");
        assert_eq!(r.assign("h.0.mlp.b", &[32]), "no_decay");
        assert_eq!(r.assign("h.0.norm.weight", &[2, 2]), "no_decay");
        let custom = Router::new("adamw").rule(Matcher::NdimAtLeast(2), "muon");
        assert_eq!(custom.assign("w", &[3, 3]), "muon");
        assert_eq!(custom.assign("b", &[3]), "adamw");
    }
}
