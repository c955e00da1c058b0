//! Reference linear algebra for the orthogonalization family: GEMM with transposes and an
//! alpha/beta epilogue, the Gram matrix, Newton–Schulz iterations with every coefficient
//! schedule, ROOT's quantile clamp, the Polar Express coefficient generator, and the exact polar factor through an SVD
//! (faer) as ground truth. Everything in f64.

pub mod coefficient_fit;
pub mod gemm;
pub mod newton_schulz;
pub mod polar;
pub mod polar_express;
pub mod quantile;

pub use coefficient_fit::{fitted_quintic, marchenko_pastur_interval};
pub use gemm::{gemm, gram};
pub use newton_schulz::{newton_schulz, NsSchedule, Precision, MUON_QUINTIC};
pub use polar::{polar_factor, singular_values};
pub use polar_express::{optimal_composition, optimal_quintic, POLAR_EXPRESS_PUBLISHED};
pub use quantile::{abs_quantile, quantile_ranks, soft_threshold_clamp, QuantileRanks};
