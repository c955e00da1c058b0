//! Learning-rate schedules: multipliers on a group's base lr, a function of the step index
//! `s` (0 for the first step). Formulas follow Hugging Face `transformers.optimization`
//! (`get_cosine_schedule_with_warmup`, `get_linear_schedule_with_warmup`, `get_wsd_schedule`).
//!
//! Schedules are host arithmetic in f64; the GPU only ever sees the resulting lr in a per-step
//! uniform, so changing the schedule never recompiles anything. There is one implementation,
//! here, used by both the reference and the GPU optimizers.

use crate::RefError;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// Shape of the decay phase of warmup-stable-decay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecayShape {
    /// ½(1 + cos πx)
    Cosine,
    /// 1 − x
    Linear,
    /// 1 − √x, the usual cooldown.
    OneMinusSqrt,
    /// 1 − x²
    Square,
}

impl DecayShape {
    fn at(self, x: f64) -> f64 {
        match self {
            DecayShape::Cosine => 0.5 * (1.0 + (PI * x).cos()),
            DecayShape::Linear => 1.0 - x,
            DecayShape::OneMinusSqrt => 1.0 - x.sqrt(),
            DecayShape::Square => 1.0 - x * x,
        }
    }
}

/// A learning-rate multiplier schedule. Compose with [`Schedule::Warmup`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Schedule {
    /// Always 1.
    Constant,
    /// Linear warmup `s / max(1, steps)` (0 at s = 0), then `then` evaluated at `s − steps`.
    Warmup { steps: u64, then: Box<Schedule> },
    /// Half-cosine from 1 down to `floor` over `total` steps, `floor` afterwards.
    Cosine { total: u64, floor: f64 },
    /// Linear from 1 down to `floor` over `total` steps, `floor` afterwards.
    LinearDecay { total: u64, floor: f64 },
    /// Warmup-stable-decay (MiniCPM): linear warmup into [floor, 1], a flat stage, a decay of
    /// the given shape, then `floor`.
    Wsd {
        warmup: u64,
        stable: u64,
        decay: u64,
        shape: DecayShape,
        floor: f64,
    },
    /// Always `factor`: for a training loop that sets the learning rate itself (the burn
    /// adapter sets it from burn's `lr` before every step).
    Scaled { factor: f64 },
    /// A table of multipliers, one per step (learning-rate refinement, [`crate::refine`]):
    /// step `s` takes `multipliers[s]`; a run longer than the table is refused where the run
    /// length is known (`Schedule::horizon`), and steps past it get the last entry.
    Refined { multipliers: Vec<f64> },
}

/// The file `wgopt schedule refine` writes and `refined:FILE` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefinedFile {
    /// "l2" or "l1".
    pub norm: crate::refine::NormKind,
    /// The median filter's width as a fraction of the run.
    pub tau: f64,
    /// One multiplier per step, largest 1, last 0.
    pub multipliers: Vec<f64>,
}

/// Largest refined-schedule file `refined:FILE` reads (a table of 10⁶ steps is ~20 MB).
const MAX_REFINED_FILE: u64 = 64 << 20;

impl Schedule {
    /// Linear warmup over `steps`, then `then`.
    pub fn warmup(steps: u64, then: Schedule) -> Schedule {
        Schedule::Warmup {
            steps,
            then: Box::new(then),
        }
    }

    /// Every floor and factor finite and ≥ 0 (a NaN floor would make every parameter NaN; a
    /// negative one would reverse the update). The message names the stage and the value.
    pub fn validate(&self) -> Result<(), RefError> {
        let check = |what: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(RefError::InvalidHyperparameter(format!(
                    "schedule: {what} must be finite and >= 0, got {v}"
                )))
            }
        };
        match self {
            Schedule::Constant => Ok(()),
            Schedule::Warmup { then, .. } => then.validate(),
            Schedule::Cosine { floor, .. } => check("cosine floor", *floor),
            Schedule::LinearDecay { floor, .. } => check("linear floor", *floor),
            Schedule::Wsd { floor, .. } => check("wsd floor", *floor),
            Schedule::Scaled { factor } => check("scaled factor", *factor),
            Schedule::Refined { multipliers } => {
                if multipliers.is_empty() {
                    return Err(RefError::InvalidHyperparameter(
                        "schedule: a refined table needs at least one step".into(),
                    ));
                }
                multipliers
                    .iter()
                    .try_for_each(|&m| check("refined multiplier", m))
            }
        }
    }

    /// Steps the schedule is defined for, when it has an end (a refined table); a run longer
    /// than this must be refused by the caller that knows the run length.
    pub fn horizon(&self) -> Option<u64> {
        match self {
            Schedule::Refined { multipliers } => Some(multipliers.len() as u64),
            Schedule::Warmup { steps, then } => then.horizon().map(|h| h + steps),
            _ => None,
        }
    }

    /// A refined table stretched (or shrunk) to `steps` entries by linear interpolation, so a
    /// schedule refined from a short first run drives a longer one.
    pub fn refined_over(table: &[f64], steps: u64) -> Result<Schedule, RefError> {
        if table.is_empty() || steps == 0 {
            return Err(RefError::InvalidHyperparameter(
                "schedule: a refined table and its step count must be non-empty".into(),
            ));
        }
        let n = table.len();
        let multipliers = (0..steps)
            .map(|s| {
                let x = if steps == 1 {
                    0.0
                } else {
                    s as f64 * (n - 1) as f64 / (steps - 1) as f64
                };
                let (i, f) = (x.floor() as usize, x - x.floor());
                let next = table[(i + 1).min(n - 1)];
                table[i] + f * (next - table[i])
            })
            .collect();
        let s = Schedule::Refined { multipliers };
        s.validate()?;
        Ok(s)
    }

    /// `refined:FILE[:STEPS]`: the table of a [`RefinedFile`], stretched to STEPS if given.
    fn parse_refined(args: &str) -> Result<Schedule, RefError> {
        let bad =
            |m: String| RefError::InvalidHyperparameter(format!("schedule refined:{args}: {m}"));
        let (path, steps) = match args.rsplit_once(':') {
            Some((p, s)) if s.parse::<u64>().is_ok() => (p, s.parse::<u64>().ok()),
            _ => (args, None),
        };
        let len = std::fs::metadata(path)
            .map_err(|e| bad(e.to_string()))?
            .len();
        if len > MAX_REFINED_FILE {
            return Err(bad(format!(
                "{len} bytes, over the limit of {MAX_REFINED_FILE}"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let file: RefinedFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        match steps {
            Some(n) => Schedule::refined_over(&file.multipliers, n),
            None => {
                let s = Schedule::Refined {
                    multipliers: file.multipliers,
                };
                s.validate()?;
                Ok(s)
            }
        }
    }

    /// The multiplier at step index `s` (0-based).
    pub fn multiplier(&self, s: u64) -> f64 {
        let frac = |a: u64, b: u64| a as f64 / (b.max(1)) as f64;
        match self {
            Schedule::Constant => 1.0,
            Schedule::Scaled { factor } => *factor,
            Schedule::Refined { multipliers } => {
                let last = multipliers.len().saturating_sub(1);
                multipliers
                    .get((s as usize).min(last))
                    .copied()
                    .unwrap_or(0.0)
            }
            Schedule::Warmup { steps, then } => {
                if s < *steps {
                    frac(s, *steps)
                } else {
                    then.multiplier(s - steps)
                }
            }
            Schedule::Cosine { total, floor } => {
                if s >= *total {
                    *floor
                } else {
                    floor + (1.0 - floor) * 0.5 * (1.0 + (PI * frac(s, *total)).cos())
                }
            }
            Schedule::LinearDecay { total, floor } => {
                if s >= *total {
                    *floor
                } else {
                    floor + (1.0 - floor) * (1.0 - frac(s, *total))
                }
            }
            Schedule::Wsd {
                warmup,
                stable,
                decay,
                shape,
                floor,
            } => {
                if s < *warmup {
                    floor + (1.0 - floor) * frac(s, *warmup)
                } else if s < warmup + stable {
                    1.0
                } else if s < warmup + stable + decay {
                    let x = frac(s - warmup - stable, *decay);
                    floor + (1.0 - floor) * shape.at(x)
                } else {
                    *floor
                }
            }
        }
    }

    /// Parses the command-line form: stages separated by `+`, each `name:arg:arg…`.
    /// `constant`, `warmup:STEPS`, `cosine:TOTAL[:FLOOR]`, `linear:TOTAL[:FLOOR]`,
    /// `wsd:WARMUP:STABLE:DECAY[:FLOOR[:cosine|linear|1-sqrt|square]]`,
    /// `refined:FILE[:STEPS]` (a table written by `wgopt schedule refine`, optionally stretched
    /// to STEPS).
    /// Example: `warmup:100+cosine:900:0.1`.
    pub fn parse(text: &str) -> Result<Schedule, RefError> {
        let bad = || RefError::InvalidHyperparameter(format!("cannot parse schedule {text:?}"));
        // A refined table's path may hold '+' or ':': everything after "refined:" is its.
        if let Some(at) = text.find("refined:") {
            let (head, rest) = text.split_at(at);
            let mut sched = Schedule::parse_refined(&rest["refined:".len()..])?;
            let head = head.trim();
            if !head.is_empty() {
                let warmups = head.strip_suffix('+').ok_or_else(bad)?;
                for w in warmups.split('+').rev() {
                    let steps = w
                        .trim()
                        .strip_prefix("warmup:")
                        .and_then(|v| v.parse().ok());
                    sched = Schedule::warmup(steps.ok_or_else(bad)?, sched);
                }
            }
            return Ok(sched);
        }
        let stages: Vec<&str> = text.split('+').map(str::trim).collect();
        let (last, warmups) = stages.split_last().ok_or_else(bad)?;
        let num = |s: Option<&&str>| -> Result<Option<f64>, RefError> {
            s.map(|v| v.parse::<f64>().map_err(|_| bad())).transpose()
        };
        let int = |s: Option<&&str>| -> Result<u64, RefError> {
            s.ok_or_else(bad)?.parse::<u64>().map_err(|_| bad())
        };
        let parts: Vec<&str> = last.split(':').collect();
        let arity = |lo: usize, hi: usize| {
            if (lo..=hi).contains(&(parts.len() - 1)) {
                Ok(())
            } else {
                Err(RefError::InvalidHyperparameter(format!(
                    "schedule {text:?}: {:?} takes {lo} to {hi} arguments, got {}",
                    parts[0],
                    parts.len() - 1
                )))
            }
        };
        match parts[0] {
            "constant" => arity(0, 0)?,
            "cosine" | "linear" => arity(1, 2)?,
            "wsd" => arity(3, 5)?,
            _ => {}
        }
        let mut sched = match parts[0] {
            "constant" => Schedule::Constant,
            "cosine" => Schedule::Cosine {
                total: int(parts.get(1))?,
                floor: num(parts.get(2))?.unwrap_or(0.0),
            },
            "linear" => Schedule::LinearDecay {
                total: int(parts.get(1))?,
                floor: num(parts.get(2))?.unwrap_or(0.0),
            },
            "wsd" => Schedule::Wsd {
                warmup: int(parts.get(1))?,
                stable: int(parts.get(2))?,
                decay: int(parts.get(3))?,
                floor: num(parts.get(4))?.unwrap_or(0.0),
                shape: match parts.get(5).copied() {
                    None | Some("1-sqrt") => DecayShape::OneMinusSqrt,
                    Some("cosine") => DecayShape::Cosine,
                    Some("linear") => DecayShape::Linear,
                    Some("square") => DecayShape::Square,
                    Some(_) => return Err(bad()),
                },
            },
            _ => return Err(bad()),
        };
        for w in warmups.iter().rev() {
            let parts: Vec<&str> = w.split(':').collect();
            if parts[0] != "warmup" || parts.len() != 2 {
                return Err(bad());
            }
            sched = Schedule::warmup(int(parts.get(1))?, sched);
        }
        sched.validate()?;
        Ok(sched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine_matches_hf_formula() {
        // HF get_cosine_schedule_with_warmup(W=10, T=110): s<W → s/W; else ½(1+cos(π(s−W)/(T−W))).
        let s = Schedule::parse("warmup:10+cosine:100").unwrap();
        assert_eq!(s.multiplier(0), 0.0);
        assert_eq!(s.multiplier(5), 0.5);
        for step in 10..120u64 {
            let p = ((step - 10) as f64 / 100.0).min(1.0);
            let hf = (0.5 * (1.0 + (PI * p).cos())).max(0.0);
            assert!((s.multiplier(step) - hf).abs() < 1e-12, "step {step}");
        }
    }

    #[test]
    fn bad_schedule_text_is_refused_with_the_value() {
        for bad in [
            "cosine:3:nan",
            "cosine:3:-0.5",
            "linear:5:inf",
            "wsd:1:2:3:nan",
            "cosine:3:0.1:7",
            "constant:1",
            "cosine:-3",
            "warmup:nan+constant",
        ] {
            let e = Schedule::parse(bad).unwrap_err().to_string();
            assert!(e.contains("schedule"), "{bad}: {e}");
        }
        assert!(Schedule::Scaled { factor: f64::NAN }.validate().is_err());
        assert!(Schedule::warmup(
            3,
            Schedule::Cosine {
                total: 9,
                floor: -1.0
            }
        )
        .validate()
        .is_err());
        assert!(Schedule::parse("warmup:10+cosine:90:0.1")
            .unwrap()
            .validate()
            .is_ok());
    }

    #[test]
    fn refined_tables_parse_from_paths_with_plus_and_colon() {
        let dir = std::env::temp_dir().join(format!("wgopt-sched-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("muon+adamw-refined.json");
        std::fs::write(
            &path,
            r#"{"norm":"l1","tau":0.1,"multipliers":[1.0,0.5,0.0]}"#,
        )
        .unwrap();
        let p = path.display();
        let s = Schedule::parse(&format!("refined:{p}")).unwrap();
        assert_eq!((s.multiplier(1), s.horizon()), (0.5, Some(3)));
        let s = Schedule::parse(&format!("warmup:2+refined:{p}:5")).unwrap();
        assert_eq!(s.horizon(), Some(7));
        // Stretched to 5 steps: 1, 0.75, 0.5, 0.25, 0 after a 2-step warmup.
        assert_eq!(s.multiplier(2 + 1), 0.75);
        assert!(Schedule::parse(&format!("cosine:3+refined:{p}")).is_err());
        assert!(Schedule::parse("refined:/nonexistent/x.json").is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn linear_decay_reaches_zero_and_floor() {
        let s = Schedule::LinearDecay {
            total: 4,
            floor: 0.0,
        };
        let v: Vec<f64> = (0..6).map(|i| s.multiplier(i)).collect();
        assert_eq!(v, vec![1.0, 0.75, 0.5, 0.25, 0.0, 0.0]);
        let f = Schedule::LinearDecay {
            total: 2,
            floor: 0.2,
        };
        assert!((f.multiplier(1) - 0.6).abs() < 1e-12);
    }

    #[test]
    fn wsd_stages() {
        let s = Schedule::parse("wsd:2:3:4:0.1:linear").unwrap();
        let v: Vec<f64> = (0..10).map(|i| s.multiplier(i)).collect();
        let expect = [0.1, 0.55, 1.0, 1.0, 1.0, 1.0, 0.775, 0.55, 0.325, 0.1];
        for (a, b) in v.iter().zip(expect) {
            assert!((a - b).abs() < 1e-12, "{v:?}");
        }
    }

    #[test]
    fn bad_text_is_an_error() {
        for t in [
            "",
            "cosine",
            "warmup:3",
            "cosine:x",
            "wsd:1:2",
            "warmup:1+warmup",
        ] {
            assert!(Schedule::parse(t).is_err(), "{t}");
        }
    }
}
