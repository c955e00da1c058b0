//! What every subcommand checks at its boundary, and how it ends: flags validated before any
//! work (one message naming the flag and the allowed range), outputs written atomically
//! (never replacing a device, a directory or a half-written file), and one exit code for
//! "the solver ran but did not reach the tolerance" (3), distinct from errors (1) and from
//! clap's usage errors (2).

use anyhow::{bail, Result};
use std::path::Path;

/// A run that finished without reaching its tolerance: exit code 3 (errors exit 1, usage
/// errors 2).
#[derive(Debug)]
pub struct NotConverged(pub String);

impl std::fmt::Display for NotConverged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotConverged {}

/// Exit code of a run that did not converge.
pub const EXIT_NOT_CONVERGED: u8 = 3;

/// A flag that must be a finite number > 0.
pub fn finite_positive(flag: &str, v: f64) -> Result<()> {
    if !(v.is_finite() && v > 0.0) {
        bail!("{flag} must be a finite number > 0, got {v}");
    }
    Ok(())
}

/// A flag that must be finite and ≥ 0.
pub fn finite_non_negative(flag: &str, v: f64) -> Result<()> {
    if !(v.is_finite() && v >= 0.0) {
        bail!("{flag} must be a finite number >= 0, got {v}");
    }
    Ok(())
}

/// Writes an output file atomically (temporary file beside it, then rename), refusing a
/// target that is not a regular file.
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<()> {
    wgopt::scheduler::files::write_atomic(path, bytes)?;
    Ok(())
}
