//! Errors of the distributed layer: wgopt's own, and what only a group of processes can get
//! wrong.

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// What a distributed call can fail with. Every rank returns the same error for the same
/// call: a rank's local failure is agreed on before any collective that depends on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A failure of a call that involves only this rank (reading a parameter, say).
    #[error(transparent)]
    Local(#[from] wgopt_scheduler::Error),
    /// A call failed on some rank; every rank returns this, naming the first failing rank.
    #[error("rank {rank} of {world} failed: {message}")]
    Rank {
        rank: usize,
        world: usize,
        message: String,
    },
    /// The optimizer cannot run data-parallel (yet); `why` says what it would need.
    #[error("{optimizer} does not run distributed: {why}")]
    Unsupported {
        optimizer: String,
        why: &'static str,
    },
    /// MPI could not be started (already initialised, or no runtime).
    #[error("MPI: {0}")]
    Mpi(String),
}
