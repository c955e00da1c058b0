//! Optimizers by name, with hyperparameters given as `key=value` text (the CLI and examples
//! use this). Keys are the reference implementation's argument names (the config structs'
//! fields); betas are `beta1`, `beta2` (and `beta3` for Adan). Values are parsed as JSON
//! scalars, so `lr=3e-4`, `amsgrad=true` and `estimator=gnb` all work, and every config gains
//! its keys without code here: a config is its serde form with the given keys replaced.

use crate::{
    AdaBelief, AdaGrad, AdaHessian, Adam, AdamP, Adan, DiffGrad, Frugal, Lion, Mfac, Optimizer,
    Sgd, Sgdp, Sophia,
};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use wgopt_reference::optim::{
    AdaBeliefConfig, AdaGradConfig, AdaHessianConfig, AdamConfig, AdamPConfig, AdanConfig,
    DiffGradConfig, FrugalConfig, Hparams, LionConfig, MfacConfig, SgdConfig, SgdpConfig,
    SophiaConfig,
};
use wgopt_scheduler::{Error, GuardConfig, ParamSet, Result};

/// Every name [`create`] accepts.
pub const OPTIMIZER_NAMES: &[&str] = &[
    "sgd",
    "adam",
    "adamw",
    "lion",
    "adabelief",
    "adan",
    "diffgrad",
    "adagrad",
    "sophia-g",
    "sophia-h",
    "adahessian",
    "adamp",
    "sgdp",
    "mfac",
    "frugal",
];

/// `default` with the `key=value` pairs applied. `opt` names the optimizer in errors.
pub fn config_from<C: Serialize + DeserializeOwned>(
    opt: &str,
    default: C,
    hparams: &[(&str, &str)],
) -> Result<C> {
    let mut value = serde_json::to_value(default)
        .map_err(|e| Error::InvalidHyperparameter(format!("{opt}: {e}")))?;
    let obj = value
        .as_object_mut()
        .expect("configs serialise to JSON objects");
    let mut known: Vec<String> = obj
        .iter()
        .flat_map(|(k, v)| match (k.as_str(), v) {
            ("betas", Value::Array(a)) => (1..=a.len()).map(|i| format!("beta{i}")).collect(),
            _ => vec![k.clone()],
        })
        .collect();
    known.sort();
    for &(key, text) in hparams {
        let parsed: Value =
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()));
        let slot = match key
            .strip_prefix("beta")
            .and_then(|i| i.parse::<usize>().ok())
        {
            Some(i) if i >= 1 => obj
                .get_mut("betas")
                .and_then(|b| b.as_array_mut())
                .and_then(|a| a.get_mut(i - 1)),
            _ => obj.get_mut(key),
        };
        match slot {
            Some(s) => *s = parsed,
            None => {
                return Err(Error::UnknownName {
                    kind: "hyperparameter",
                    name: format!("{opt}.{key}"),
                    known: known.join(", "),
                })
            }
        }
    }
    serde_json::from_value(value)
        .map_err(|e| Error::InvalidHyperparameter(format!("{opt}: {e} (in {hparams:?})")))
}

/// The reference hyperparameters of an elementwise optimizer by name (what the CPU reference
/// and the replay tool run).
pub fn hparams(name: &str, kv: &[(&str, &str)]) -> Result<Hparams> {
    Ok(match name {
        "sgd" => Hparams::Sgd(config_from(name, SgdConfig::default(), kv)?),
        "adam" => Hparams::Adam(config_from(name, AdamConfig::adam(), kv)?),
        "adamw" => Hparams::Adam(config_from(name, AdamConfig::adamw(), kv)?),
        "lion" => Hparams::Lion(config_from(name, LionConfig::default(), kv)?),
        "adabelief" => Hparams::AdaBelief(config_from(name, AdaBeliefConfig::default(), kv)?),
        "adan" => Hparams::Adan(config_from(name, AdanConfig::default(), kv)?),
        "diffgrad" => Hparams::DiffGrad(config_from(name, DiffGradConfig::default(), kv)?),
        "adagrad" => Hparams::AdaGrad(config_from(name, AdaGradConfig::default(), kv)?),
        "sophia-g" => Hparams::Sophia(config_from(name, SophiaConfig::g(), kv)?),
        "sophia-h" => Hparams::Sophia(config_from(name, SophiaConfig::h(), kv)?),
        _ => {
            return Err(Error::UnknownName {
                kind: "optimizer",
                name: name.into(),
                known: OPTIMIZER_NAMES.join(", "),
            })
        }
    })
}

fn groups<C: Clone + Serialize + DeserializeOwned>(
    params: &ParamSet,
    cfg: C,
    no_decay: &[&str],
) -> Result<Vec<(String, C)>> {
    params
        .layout()
        .groups
        .iter()
        .map(|g| {
            let c = if no_decay.contains(&g.as_str()) {
                config_from("no_decay group", cfg.clone(), &[("weight_decay", "0")])?
            } else {
                cfg.clone()
            };
            Ok((g.clone(), c))
        })
        .collect()
}

/// Builds the optimizer called `name` over every group of `params`, each group with the same
/// hyperparameters, except that groups listed in `no_decay_groups` get weight_decay 0.
pub fn create(
    name: &str,
    params: &ParamSet,
    hparams_kv: &[(&str, &str)],
    no_decay_groups: &[&str],
    guard: GuardConfig,
) -> Result<Box<dyn Optimizer>> {
    let nd = no_decay_groups;
    match name {
        "adahessian" => {
            let cfg = config_from(name, AdaHessianConfig::default(), hparams_kv)?;
            let g = groups(params, cfg, nd)?;
            return Ok(Box::new(AdaHessian::new(params, &g, guard, 0)?));
        }
        "adamp" => {
            let cfg = config_from(name, AdamPConfig::default(), hparams_kv)?;
            return Ok(Box::new(AdamP::new(
                params,
                &groups(params, cfg, nd)?,
                guard,
            )?));
        }
        "frugal" => {
            let cfg = config_from(name, FrugalConfig::default(), hparams_kv)?;
            return Ok(Box::new(Frugal::new(
                params,
                &groups(params, cfg, nd)?,
                guard,
            )?));
        }
        "mfac" => {
            let cfg = config_from(name, MfacConfig::default(), hparams_kv)?;
            return Ok(Box::new(Mfac::new(
                params,
                &groups(params, cfg, nd)?,
                guard,
            )?));
        }
        "sgdp" => {
            let cfg = config_from(name, SgdpConfig::default(), hparams_kv)?;
            return Ok(Box::new(Sgdp::new(
                params,
                &groups(params, cfg, nd)?,
                guard,
            )?));
        }
        _ => {}
    }
    Ok(match hparams(name, hparams_kv)? {
        Hparams::Sgd(c) => Box::new(Sgd::new(params, &groups(params, c, nd)?, guard)?),
        Hparams::Adam(c) => Box::new(Adam::new(params, &groups(params, c, nd)?, guard)?),
        Hparams::Lion(c) => Box::new(Lion::new(params, &groups(params, c, nd)?, guard)?),
        Hparams::AdaBelief(c) => Box::new(AdaBelief::new(params, &groups(params, c, nd)?, guard)?),
        Hparams::Adan(c) => Box::new(Adan::new(params, &groups(params, c, nd)?, guard)?),
        Hparams::DiffGrad(c) => Box::new(DiffGrad::new(params, &groups(params, c, nd)?, guard)?),
        Hparams::AdaGrad(c) => Box::new(AdaGrad::new(params, &groups(params, c, nd)?, guard)?),
        Hparams::Sophia(c) => Box::new(Sophia::new(params, &groups(params, c, nd)?, guard)?),
    })
}
