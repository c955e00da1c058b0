//! The one error type of wgopt's libraries. Every case says what went wrong and, where there is
//! one, which parameter or field; no library function panics on user input.

/// Everything that can go wrong in wgopt.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No adapter matched; `hint` says how to get one (e.g. install lavapipe).
    #[error("no GPU adapter found{filter}. {hint}")]
    NoAdapter { filter: String, hint: &'static str },
    /// The adapter or device lacks a feature an operation needs.
    #[error("adapter {adapter:?} lacks required feature(s) {missing}")]
    MissingFeature { adapter: String, missing: String },
    /// `request_device` failed.
    #[error("could not open the device: {0}")]
    RequestDevice(#[from] wgpu::RequestDeviceError),
    /// A tensor's shape or length does not match what the parameter set holds.
    #[error("shape mismatch for parameter {name:?}: expected {expected}, got {got}")]
    ShapeMismatch {
        name: String,
        expected: String,
        got: String,
    },
    /// A parameter name that the set does not contain.
    #[error("unknown parameter {0:?}")]
    UnknownParameter(String),
    /// A parameter name given twice.
    #[error("duplicate parameter {0:?}")]
    DuplicateParameter(String),
    /// A parameter with no elements (a zero in its shape).
    #[error("parameter {0:?} has zero elements")]
    EmptyParameter(String),
    /// An unknown optimizer, schedule, field or group name.
    #[error("unknown {kind} {name:?}; known: {known}")]
    UnknownName {
        kind: &'static str,
        name: String,
        known: String,
    },
    /// A size over what the adapter (or wgopt's 32-bit indexing) allows.
    #[error("{what} is {size} {unit}, over the limit of {limit} {unit}")]
    OverLimit {
        what: String,
        size: u64,
        limit: u64,
        /// What `size` and `limit` count: "bytes" for memory, else dispatches, workgroups….
        unit: &'static str,
    },
    /// A hyperparameter outside its legal range, or flags that must agree and do not.
    #[error("invalid hyperparameter: {0}")]
    InvalidHyperparameter(String),
    /// Two lengths that must agree do not (from the reference crate's checks).
    #[error("length mismatch for {what}: expected {expected}, got {got}")]
    LengthMismatch {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// A group label the parameter set does not have.
    #[error("{optimizer}: unknown group {group:?}; the parameter set's groups: {known}")]
    UnknownGroup {
        optimizer: String,
        group: String,
        known: String,
    },
    /// A group given twice (to one optimizer, or to both parts of a hybrid).
    #[error("{optimizer}: group {group:?} is given twice")]
    DuplicateGroup { optimizer: String, group: String },
    /// A group of the parameter set that no part of the optimizer updates: its parameters
    /// would silently never change.
    #[error(
        "{optimizer}: group {group:?} of the parameter set is given to no optimizer part \
         (its parameters would never change); give it a config"
    )]
    MissingGroup { optimizer: String, group: String },
    /// A step whose gradients were not all rewritten since the last step (the stale-gradient
    /// check, on by default in debug builds; `ParamSet::set_stale_grad_check`).
    #[error(
        "gradient(s) not written since the last step: {names} (write them, or turn the check \
         off with ParamSet::set_stale_grad_check(false) to reuse them on purpose)"
    )]
    StaleGradient { names: String },
    /// An optimizer called with a parameter set other than the one it was built for.
    #[error("{optimizer} was built for another ParamSet")]
    WrongParamSet { optimizer: String },
    /// Input data (not a hyperparameter) an operation cannot use: empty or negative marginals,
    /// a cost with NaN, a problem of the wrong size.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// An invariant of wgopt itself broke. This is a bug: please report it with the message.
    #[error("internal error (a bug in wgopt, please report): {0}")]
    Internal(String),
    /// A call made out of the order an algorithm needs (e.g. a Hutchinson Hessian update
    /// before any probes were drawn); the message names the call that must come first.
    #[error("out of order: {0}")]
    OutOfOrder(String),
    /// A checkpoint that cannot be read or does not fit this optimizer.
    #[error("bad checkpoint: {0}")]
    Checkpoint(String),
    /// Reading results back from the GPU failed.
    #[error("GPU readback failed: {0}")]
    Readback(String),
    /// The device was lost or a wgpu validation error surfaced.
    #[error("device error: {0}")]
    Device(String),
    /// A solver's typed failure: bad dimensions, a non-SPD or singular system, non-finite
    /// values, an iteration cap (see `wgopt_reference::sketch::SolveError`).
    #[error("solver: {0}")]
    Solve(#[from] wgopt_reference::sketch::SolveError),
    /// File input/output.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The reference crate's errors keep their meaning: a length check stays a length check, a
/// rejected hyperparameter stays one (with the reference's message, not wrapped twice).
impl From<wgopt_reference::RefError> for Error {
    fn from(e: wgopt_reference::RefError) -> Self {
        match e {
            wgopt_reference::RefError::LengthMismatch {
                what,
                expected,
                got,
            } => Error::LengthMismatch {
                what,
                expected,
                got,
            },
            wgopt_reference::RefError::InvalidHyperparameter(m) => Error::InvalidHyperparameter(m),
            wgopt_reference::RefError::MissingInput(m) => Error::InvalidInput(m),
        }
    }
}

impl From<wgpu::PollError> for Error {
    fn from(e: wgpu::PollError) -> Self {
        Error::Device(e.to_string())
    }
}

impl From<wgpu::BufferAsyncError> for Error {
    fn from(e: wgpu::BufferAsyncError) -> Self {
        Error::Readback(e.to_string())
    }
}

impl From<wgpu::MapRangeError> for Error {
    fn from(e: wgpu::MapRangeError) -> Self {
        Error::Readback(e.to_string())
    }
}

/// wgopt's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
