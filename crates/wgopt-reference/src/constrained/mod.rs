//! Equality-constrained optimisation by inexact Newton on the KKT system with the exact
//! augmented Lagrangian merit function (Hong, Na, Mahoney & Kolar, ICML 2023 —
//! "AdaSketch-Newton"; read from the authors' Julia code, spec B2), and the test set it is
//! checked on.
//!
//! - [`problem`]: the [`Problem`](problem::Problem) trait (f, ∇f, c, G, ∇²L) and exact
//!   automatic derivatives for small problems written once over a generic scalar.
//! - [`solver`]: the outer iteration (Hessian modification, adaptive accuracy, descent test,
//!   penalty updates, Armijo on the merit) over any [`KktSolver`](kkt::KktSolver) ([`kkt`]): the
//!   randomised sketching solvers of the paper (Gaussian vector, randomised Kaczmarz) or a
//!   dense direct solve for comparison.
//! - [`operator`]: the same method for large problems given only as products (G·v, Gᵀ·w,
//!   ∇²L·v): Hutchinson norms, Lanczos eigenvalue tests, and the Gaussian-vector sketch or
//!   MINRES ([`krylov`]) on K.
//! - [`problems`]: 31 Hock–Schittkowski / CUTEst (BT) problems with standard starting points
//!   and verified optimal values, and [`logistic`]: constrained logistic regression on
//!   seeded data.

pub mod kkt;
pub mod krylov;
pub mod logistic;
pub mod operator;
pub mod problem;
pub mod problems;
pub mod solver;

pub use kkt::{BuiltinKkt, KktMethod, KktOperator, KktSolver};
pub use operator::{solve_operator, solve_operator_with, MatrixFree, OperatorProblem};
pub use problem::{AutoDiff, FromHvp, HvpProblem, Problem, Scalar, Smooth};
pub use solver::{solve, solve_with, Options, Report};
