//! The CPU oracle for wgopt.
//!
//! Every GPU kernel in wgopt has a twin here, written to be obviously right rather than fast:
//! plain loops over slices, the same operation order as the reference implementation it follows
//! (PyTorch for AdamW/SGD, the authors' code elsewhere), f64 wherever the reference itself
//! computes in double precision (per-step scalars, reductions).
//!
//! Invariant: this crate never depends on wgpu. It is usable on its own as a CPU backend, and the
//! hyperparameter structs defined here are the ones the GPU optimizers take, so a parity test
//! feeds both faces the very same configuration.
//!
//! Module names mirror the GPU side: `wgopt_reference::optim::adam` ↔ `wgopt_optim::adam` ↔
//! `shaders/optim/adam.wgsl` (Adam and AdamW), `wgopt_reference::linalg::newton_schulz` ↔
//! `wgopt_solvers::newton_schulz`, `wgopt_reference::ot::sns` ↔ `wgopt_solvers::ot::sns`.

pub mod constrained;
pub mod dgc;
pub mod gns;
pub mod guard;
pub mod linalg;
pub mod optim;
pub mod ot;
pub mod random;
pub mod refine;
pub mod scaling;
pub mod schedule;
pub mod sketch;

/// Errors of the reference implementations: shape disagreements, rejected hyperparameters and
/// missing inputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RefError {
    /// Two slices that must have the same length do not.
    #[error("length mismatch for {what}: expected {expected}, got {got}")]
    LengthMismatch {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// A hyperparameter is outside its legal range (the message says which and why).
    #[error("invalid hyperparameter: {0}")]
    InvalidHyperparameter(String),
    /// An input the step needs was not given (AdaHessian without its Hessian-vector product).
    #[error("missing input: {0}")]
    MissingInput(String),
}

/// Checks that `got` has the `expected` length, naming the slice in the error.
pub fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), RefError> {
    if expected == got {
        Ok(())
    } else {
        Err(RefError::LengthMismatch {
            what,
            expected,
            got,
        })
    }
}

/// Accepts `value ≥ 0` (and rejects NaN), naming the hyperparameter otherwise.
pub fn non_negative(name: &str, value: f64) -> Result<(), RefError> {
    if value.is_nan() || value < 0.0 {
        Err(RefError::InvalidHyperparameter(format!(
            "{name} must be >= 0, got {value}"
        )))
    } else {
        Ok(())
    }
}

/// Accepts betas in [0, 1) (and rejects NaN), naming the offender.
pub fn betas_in_unit_interval(betas: &[f64]) -> Result<(), RefError> {
    for (i, &b) in betas.iter().enumerate() {
        if !(0.0..1.0).contains(&b) {
            return Err(RefError::InvalidHyperparameter(format!(
                "beta{} must be in [0, 1), got {b}",
                i + 1
            )));
        }
    }
    Ok(())
}
