//! Checkpoints of a [`WgoptOptimizer`]: wgopt's optimizer state (format `wgopt.optimizer.v1`,
//! safetensors) with tensors named `<burn path>.<field>` (`blocks.0.attn.qkv.weight.exp_avg`),
//! saved beside burn's own model record. A resumed run continues bit for bit: the model record
//! brings the parameters (copied into wgopt's arena at the next step), the checkpoint the state
//! and step counters.

use crate::error::{Error, Result};
use crate::optimizer::WgoptOptimizer;
use std::path::Path;

impl WgoptOptimizer {
    /// The optimizer's state as bytes (reads it back from the GPU). Before the first step there
    /// is no state: a checkpoint loaded earlier is returned as it was, else an error.
    pub fn to_bytes(&mut self) -> Result<Vec<u8>> {
        if let Some((driver, params)) = self.inner() {
            return Ok(driver.optimizer().save(params)?);
        }
        self.pending_state().map(<[u8]>::to_vec).ok_or_else(|| {
            Error::Wgopt(wgopt_scheduler::Error::Checkpoint(
                "no optimizer state before the first step".into(),
            ))
        })
    }

    /// Restores state saved by [`WgoptOptimizer::to_bytes`]. After the first step the whole file
    /// is checked against the optimizer before anything changes; before it, the bytes are kept
    /// and checked when the module is known (the first step refuses a bad file).
    pub fn load_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        match self.inner() {
            Some((driver, params)) => Ok(driver.optimizer().load(params, bytes)?),
            None => {
                self.set_pending_state(bytes.to_vec());
                Ok(())
            }
        }
    }

    /// Writes the state to `path` through a temporary file renamed into place, so a failure
    /// never leaves a torn checkpoint.
    pub fn save_file(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.to_bytes()?;
        // Temporary file beside it, fsync, rename; never replaces a device or a directory.
        Ok(wgopt_scheduler::files::write_atomic(path, &bytes)?)
    }

    /// Reads state written by [`WgoptOptimizer::save_file`].
    pub fn load_file(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        self.load_bytes(&bytes)
    }
}
