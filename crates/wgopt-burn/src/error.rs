//! What can go wrong between burn and wgopt, as typed errors that name the parameter.

/// An error of the burn adapter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// wgopt itself refused (unknown optimizer or hyperparameter, over-limit sizes, a corrupt
    /// checkpoint, a device error…).
    #[error(transparent)]
    Wgopt(#[from] wgopt_scheduler::Error),
    /// A parameter's or gradient's tensor does not live on burn's wgpu runtime without fusion
    /// (another backend, or a burn build with `fusion` on, whose tensors are lazy handles).
    #[error("{name}: the {what} is not a plain wgpu tensor ({detail}); wgopt-burn needs burn's wgpu backend without the `fusion` feature")]
    NotWgpu {
        name: String,
        what: &'static str,
        detail: String,
    },
    /// A tensor on a device other than the one wgopt shares.
    #[error("{name}: the {what} is on {got}, but this optimizer runs on {expected}; move the module with `to_device` or build the optimizer on that device")]
    WrongDevice {
        name: String,
        what: &'static str,
        expected: String,
        got: String,
    },
    /// wgopt keeps f32 parameters and state.
    #[error("{name}: the {what} is {dtype:?}; wgopt-burn updates f32 parameters (keep f32 master weights, e.g. `module.cast(DType::F32)`)")]
    UnsupportedDType {
        name: String,
        what: &'static str,
        dtype: String,
    },
    /// A strided view (burn hands these over after a transposition or a slice).
    #[error("{name}: the {what} is not contiguous (shape {shape:?}, strides {strides:?}); make it contiguous before the step")]
    NotContiguous {
        name: String,
        what: &'static str,
        shape: Vec<usize>,
        strides: Vec<isize>,
    },
    /// The module's trainable parameters differ from those the optimizer was built for.
    #[error("the module's parameters changed since the optimizer was built: added {added:?}, removed {removed:?}, reshaped {reshaped:?}")]
    ParametersChanged {
        added: Vec<String>,
        removed: Vec<String>,
        reshaped: Vec<String>,
    },
    /// A parameter the optimizer updates has no gradient this step.
    #[error("no gradient for {names:?} (wgopt steps every parameter it was built for at once)")]
    MissingGradient { names: Vec<String> },
    /// Nothing to optimize: no parameter of the module has a gradient.
    #[error("no parameter of the module has a gradient")]
    NoGradients,
    /// Two parameters share a path (wgopt names state by path).
    #[error("two parameters are both called {0:?}")]
    DuplicatePath(String),
    /// The learning rate burn passed is not a finite number ≥ 0.
    #[error("learning rate {0} is not a finite number ≥ 0")]
    BadLearningRate(f64),
    /// An optimizer whose curvature input the adapter cannot produce from burn.
    #[error("{optimizer} needs Hessian-vector products (Hutchinson probes); burn 0.22's autodiff has no double backward, so wgopt-burn does not run it yet (sophia-g, which needs only a gradient on sampled labels, does)")]
    NeedsHessianVectorProducts { optimizer: String },
    /// MKOR over linear layers: it needs each layer's input and output-gradient statistics,
    /// which burn's backward does not expose to an optimizer.
    #[error("{optimizer} needs each linear layer's batch statistics (inputs and output gradients), which burn's backward does not hand to an optimizer; route every parameter to its plain group (precondition = false) or use toygpt")]
    NeedsLayerStatistics { optimizer: String },
    /// `update_curvature` on an optimizer that takes no curvature estimate.
    #[error("{optimizer} takes no curvature estimate")]
    NoCurvature { optimizer: String },
    /// burn's runtime failed (initialisation, a flush or a resource lookup).
    #[error("burn: {0}")]
    Burn(String),
    /// A checkpoint file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Results of the burn adapter.
pub type Result<T> = std::result::Result<T, Error>;

/// A refused step: the error, and the module as it was given (nothing lost).
pub struct Rejected<M> {
    pub module: M,
    pub error: Error,
}

impl<M> std::fmt::Debug for Rejected<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rejected")
            .field("error", &self.error)
            .finish()
    }
}

impl<M> std::fmt::Display for Rejected<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step refused: {}", self.error)
    }
}

impl<M> std::error::Error for Rejected<M> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
