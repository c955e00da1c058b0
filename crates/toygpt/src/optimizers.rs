//! Every wgopt optimizer by name, with the parameter grouping it needs for a GPT and the
//! hyperparameters the comparison uses by default (with their sources).
//!
//! Names: the registry's 15 (`wgopt::optim::OPTIMIZER_NAMES`) plus the Newton–Schulz hybrids
//! `muon`, `root` and `polar-express` (Muon/ROOT/Polar Express on the hidden matrices, AdamW
//! on embeddings, gains and biases). Hyperparameters are `key=value` pairs with the config
//! structs' field names; for a hybrid, keys prefixed `adamw.` go to its AdamW part.

use crate::error::{Error, Result};
use wgopt::optim::registry::config_from;
use wgopt::optim::{
    create, AdaHessian, AdaHessianConfig, AdamConfig, Matcher, MuonAdamW, MuonConfig, NsSchedule,
    Optimizer, Router, Sophia, SophiaConfig, OPTIMIZER_NAMES,
};
use wgopt::{GuardConfig, ParamSet};

/// The hybrids this crate adds to the registry's names.
pub const HYBRID_NAMES: &[&str] = &["muon", "root", "polar-express"];

/// The default optimizer of the example (Muon's recipe: Muon + AdamW).
pub const DEFAULT_OPTIMIZER: &str = "muon";

/// Every name [`build`] accepts.
pub fn all_names() -> Vec<&'static str> {
    HYBRID_NAMES
        .iter()
        .chain(OPTIMIZER_NAMES)
        .copied()
        .collect()
}

/// Fails with the list of known names unless `name` is one.
pub fn check_name(name: &str) -> Result<()> {
    if all_names().contains(&name) {
        Ok(())
    } else {
        Err(Error::UnknownOptimizer {
            name: name.into(),
            known: all_names().join(", "),
        })
    }
}

/// How parameters are grouped: hybrids split matrices from the rest; everything else splits
/// decayed matrices and embeddings from undecayed gains and biases.
pub fn router(name: &str) -> Router {
    if HYBRID_NAMES.contains(&name) {
        // c_attn is [3C, C]: orthogonalised whole, as in Keller Jordan's first Muon runs.
        MuonAdamW::router()
    } else {
        Router::decay_split().rule(Matcher::NameContains("ln_".into()), "no_decay")
    }
}

/// The comparison's hyperparameters for `name` at the AdamW baseline learning rate
/// `adamw_lr`, and where they come from. Learning rates of Adam-like methods are tied to
/// `adamw_lr` so one number tunes the whole race.
pub fn recommended(
    name: &str,
    adamw_lr: f64,
    tokens_per_batch: usize,
) -> (Vec<(String, String)>, &'static str) {
    let lr = |x: f64| ("lr".to_string(), format!("{x:e}"));
    let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
    let aux = |v: &mut Vec<(String, String)>| {
        v.push(kv("adamw.lr", &format!("{adamw_lr:e}")));
        v.push(kv("adamw.beta2", "0.99"));
    };
    match name {
        "adamw" | "adam" => (
            vec![lr(adamw_lr), kv("beta2", "0.99"), kv("weight_decay", if name == "adamw" { "0.1" } else { "0" })],
            "nanoGPT config/train_shakespeare_char.py (β2 0.99, wd 0.1); lr from the sweep in docs/gpt-toy.md",
        ),
        "muon" | "polar-express" => {
            let mut v = vec![lr(0.02), kv("momentum", "0.95"), kv("weight_decay", "0.01")];
            aux(&mut v);
            (v, "Muon README recipe (lr 0.02, momentum 0.95, Nesterov, wd 0.01); AdamW part as the AdamW baseline; Polar Express: ℓ = 1e-3, safety 1.01 (paper's Algorithm 1)")
        }
        "root" => {
            let mut v = vec![lr(adamw_lr)];
            aux(&mut v);
            (v, "ROOT example_train.py defaults (momentum 0.95 sum form, wd 0.1, 0.9-quantile clamp, 0.2·√max(m,n) scale, which lets AdamW's lr carry over, so lr = the AdamW baseline's)")
        }
        "lion" => (
            vec![lr(adamw_lr / 3.0), kv("weight_decay", "0.3")],
            "Lion paper: lr 3–10× below AdamW's, wd 3–10× above (3× here)",
        ),
        "sophia-g" => (
            vec![
                lr(adamw_lr / 2.0),
                kv("rho", "0.03"),
                kv("weight_decay", "0.2"),
                kv("bs", &tokens_per_batch.to_string()),
            ],
            "Sophia GPT-2-small config (ρ 0.03, wd 0.2, k 10, β 0.965/0.99, lr ≈ ½ AdamW's), bs = tokens per batch",
        ),
        "sophia-h" => (
            vec![lr(adamw_lr / 2.0)],
            "Sophia older reference defaults (γ 10, β 0.9/0.99, wd 1e-2, k 10), lr as SophiaG's",
        ),
        "adahessian" => (
            vec![lr(0.15), kv("weight_decay", "1e-4")],
            "AdaHessian reference defaults (lr 0.15, β 0.9/0.999, ε 1e-4, k 1) with its image-classification wd",
        ),
        "adabelief" => (
            vec![lr(adamw_lr), kv("eps", "1e-16"), kv("weight_decay", "0.1")],
            "AdaBelief README (ε 1e-16 for transformers, decoupled wd); lr = AdamW's",
        ),
        "adan" => (
            vec![lr(adamw_lr), kv("weight_decay", "0.02")],
            "Adan README GPT-2 recipe (β 0.98/0.92/0.99, wd 0.02); lr = AdamW's",
        ),
        "sgd" | "sgdp" => (
            vec![lr(0.1), kv("momentum", "0.9"), kv("nesterov", "true")],
            "SGD with Nesterov momentum 0.9 at lr 0.1 (a common transformer baseline, not tuned here)",
        ),
        "mfac" => (
            vec![lr(adamw_lr), kv("ngrads", "32")],
            "M-FAC reference defaults except the window: m = 32 (the default 1024 gradients of 0.1 M floats exceed one GPU binding)",
        ),
        _ => (vec![lr(adamw_lr)], "registry defaults with lr = the AdamW baseline's"),
    }
}

/// An optimizer and the extra calls its family needs in a training loop.
pub enum Driver {
    /// `step` alone.
    Plain(Box<dyn Optimizer>),
    /// Sophia: after `step`, when `hessian_due`, an estimate through `update_hessian`.
    Sophia(Box<Sophia>),
    /// AdaHessian: Hutchinson probes and a Hessian-vector product before every `step`.
    AdaHessian(Box<AdaHessian>),
}

impl Driver {
    pub fn optimizer(&mut self) -> &mut dyn Optimizer {
        match self {
            Driver::Plain(o) => o.as_mut(),
            Driver::Sophia(o) => o.as_mut(),
            Driver::AdaHessian(o) => o.as_mut(),
        }
    }
}

type Kv<'a> = Vec<(&'a str, &'a str)>;

fn split_aux<'a>(hparams: &'a [(String, String)]) -> (Kv<'a>, Kv<'a>) {
    let mut main = Vec::new();
    let mut aux = Vec::new();
    for (k, v) in hparams {
        match k.strip_prefix("adamw.") {
            Some(rest) => aux.push((rest, v.as_str())),
            None => main.push((k.as_str(), v.as_str())),
        }
    }
    (main, aux)
}

/// Builds optimizer `name` over `params` (grouped by [`router`]`(name)`).
pub fn build(
    name: &str,
    params: &ParamSet,
    hparams: &[(String, String)],
    guard: GuardConfig,
    seed: u64,
) -> Result<Driver> {
    check_name(name)?;
    let (main, aux) = split_aux(hparams);
    if !HYBRID_NAMES.contains(&name) && !aux.is_empty() {
        return Err(Error::Config(format!(
            "{name} has no AdamW part: drop the adamw.* keys"
        )));
    }
    let groups = &params.layout().groups;
    let has = |g: &str| groups.iter().any(|x| x == g);
    Ok(match name {
        "muon" | "root" | "polar-express" => {
            let base = match name {
                "root" => MuonConfig::root(),
                "polar-express" => MuonConfig {
                    schedule: NsSchedule::PolarExpress {
                        lower: 1e-3,
                        safety: 1.01,
                    },
                    ..MuonConfig::default()
                },
                _ => MuonConfig::default(),
            };
            let aux_base = if name == "root" {
                AdamConfig::root_fallback()
            } else {
                AdamConfig::adamw()
            };
            let muon = config_from(name, base, &main)?;
            // ROOT shares one lr between its parts unless told otherwise.
            let mut aux = aux;
            let lr_text = muon.lr.to_string();
            if name == "root" && !aux.iter().any(|(k, _)| *k == "lr") {
                aux.push(("lr", &lr_text));
            }
            let adamw = config_from("adamw part", aux_base, &aux)?;
            let mg: Vec<(String, MuonConfig)> = has("muon")
                .then(|| ("muon".into(), muon))
                .into_iter()
                .collect();
            let ag: Vec<(String, AdamConfig)> = has("adamw")
                .then(|| ("adamw".into(), adamw))
                .into_iter()
                .collect();
            Driver::Plain(Box::new(MuonAdamW::new(params, &mg, &ag, guard)?))
        }
        "sophia-g" | "sophia-h" => {
            let base = if name == "sophia-g" {
                SophiaConfig::g()
            } else {
                SophiaConfig::h()
            };
            let cfg = config_from(name, base, &main)?;
            let g = decay_groups(params, cfg, |c| SophiaConfig {
                weight_decay: 0.0,
                ..c
            });
            Driver::Sophia(Box::new(Sophia::with_seed(params, &g, guard, seed)?))
        }
        "adahessian" => {
            let cfg = config_from(name, AdaHessianConfig::default(), &main)?;
            let g = decay_groups(params, cfg, |c| AdaHessianConfig {
                weight_decay: 0.0,
                ..c
            });
            Driver::AdaHessian(Box::new(AdaHessian::new(params, &g, guard, seed)?))
        }
        _ => Driver::Plain(create(name, params, &main, &["no_decay"], guard)?),
    })
}

fn decay_groups<C: Clone>(
    params: &ParamSet,
    cfg: C,
    no_decay: impl Fn(C) -> C,
) -> Vec<(String, C)> {
    params
        .layout()
        .groups
        .iter()
        .map(|g| {
            let c = if g == "no_decay" {
                no_decay(cfg.clone())
            } else {
                cfg.clone()
            };
            (g.clone(), c)
        })
        .collect()
}
