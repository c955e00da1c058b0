//! Optimizers by name, with hyperparameters given as `key=value` text (the CLI and examples
//! use this). Keys are PyTorch's argument names; betas are `beta1` and `beta2`.

use crate::{Adam, Lion, Optimizer, Sgd};
use wgopt_reference::optim::{AdamConfig, LionConfig, SgdConfig};
use wgopt_scheduler::{Error, GuardConfig, ParamSet, Result};

/// Every name [`create`] accepts.
pub const OPTIMIZER_NAMES: &[&str] = &["sgd", "adam", "adamw", "lion"];

fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| Error::InvalidHyperparameter(format!("{key}={value:?} is not a valid value")))
}

fn unknown(opt: &str, key: &str, known: &str) -> Error {
    Error::UnknownName {
        kind: "hyperparameter",
        name: format!("{opt}.{key}"),
        known: known.into(),
    }
}

/// The config of `name` with `hparams` applied over torch's defaults.
pub fn sgd_config(hparams: &[(&str, &str)]) -> Result<SgdConfig> {
    let mut c = SgdConfig::default();
    for &(k, v) in hparams {
        match k {
            "lr" => c.lr = parse(k, v)?,
            "momentum" => c.momentum = parse(k, v)?,
            "dampening" => c.dampening = parse(k, v)?,
            "weight_decay" => c.weight_decay = parse(k, v)?,
            "nesterov" => c.nesterov = parse(k, v)?,
            "maximize" => c.maximize = parse(k, v)?,
            _ => {
                return Err(unknown(
                    "sgd",
                    k,
                    "lr, momentum, dampening, weight_decay, nesterov, maximize",
                ))
            }
        }
    }
    Ok(c)
}

/// Adam (`decoupled = false`) or AdamW config from `key=value` pairs.
pub fn adam_config(decoupled: bool, hparams: &[(&str, &str)]) -> Result<AdamConfig> {
    let mut c = if decoupled {
        AdamConfig::adamw()
    } else {
        AdamConfig::adam()
    };
    for &(k, v) in hparams {
        match k {
            "lr" => c.lr = parse(k, v)?,
            "beta1" => c.betas.0 = parse(k, v)?,
            "beta2" => c.betas.1 = parse(k, v)?,
            "eps" => c.eps = parse(k, v)?,
            "weight_decay" => c.weight_decay = parse(k, v)?,
            "amsgrad" => c.amsgrad = parse(k, v)?,
            "maximize" => c.maximize = parse(k, v)?,
            _ => {
                return Err(unknown(
                    "adam",
                    k,
                    "lr, beta1, beta2, eps, weight_decay, amsgrad, maximize",
                ))
            }
        }
    }
    Ok(c)
}

pub fn lion_config(hparams: &[(&str, &str)]) -> Result<LionConfig> {
    let mut c = LionConfig::default();
    for &(k, v) in hparams {
        match k {
            "lr" => c.lr = parse(k, v)?,
            "beta1" => c.betas.0 = parse(k, v)?,
            "beta2" => c.betas.1 = parse(k, v)?,
            "weight_decay" => c.weight_decay = parse(k, v)?,
            _ => return Err(unknown("lion", k, "lr, beta1, beta2, weight_decay")),
        }
    }
    Ok(c)
}

/// Builds the optimizer called `name` over every group of `params`, each group with the same
/// hyperparameters, except that groups listed in `no_decay_groups` get weight_decay 0.
pub fn create(
    name: &str,
    params: &ParamSet,
    hparams: &[(&str, &str)],
    no_decay_groups: &[&str],
    guard: GuardConfig,
) -> Result<Box<dyn Optimizer>> {
    fn groups<C: Clone>(
        params: &ParamSet,
        cfg: C,
        no_decay: &[&str],
        zero: impl Fn(&mut C),
    ) -> Vec<(String, C)> {
        params
            .layout()
            .groups
            .iter()
            .map(|g| {
                let mut c = cfg.clone();
                if no_decay.contains(&g.as_str()) {
                    zero(&mut c);
                }
                (g.clone(), c)
            })
            .collect()
    }
    Ok(match name {
        "sgd" => {
            let g = groups(params, sgd_config(hparams)?, no_decay_groups, |c| {
                c.weight_decay = 0.0
            });
            Box::new(Sgd::new(params, &g, guard)?)
        }
        "adam" | "adamw" => {
            let cfg = adam_config(name == "adamw", hparams)?;
            let g = groups(params, cfg, no_decay_groups, |c| c.weight_decay = 0.0);
            Box::new(Adam::new(params, &g, guard)?)
        }
        "lion" => {
            let g = groups(params, lion_config(hparams)?, no_decay_groups, |c| {
                c.weight_decay = 0.0
            });
            Box::new(Lion::new(params, &g, guard)?)
        }
        _ => {
            return Err(Error::UnknownName {
                kind: "optimizer",
                name: name.into(),
                known: OPTIMIZER_NAMES.join(", "),
            })
        }
    })
}
