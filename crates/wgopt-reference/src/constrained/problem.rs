//! What the constrained solver asks of a problem, and automatic derivatives for small ones.

use nalgebra::SVector;
use ndarray::Array2;
use num_dual::{hessian, jacobian, DualNum};

/// `min f(x)` subject to `c(x) = 0`, `x ∈ R^d`, `c: R^d → R^m`, with first and second
/// derivatives. The Lagrangian is `L(x, λ) = f(x) + λᵀ c(x)`.
pub trait Problem {
    fn name(&self) -> &str;
    /// (d, m).
    fn dims(&self) -> (usize, usize);
    fn x0(&self) -> Vec<f64>;
    /// Starting multipliers (zeros unless the problem says otherwise).
    fn lambda0(&self) -> Vec<f64> {
        vec![0.0; self.dims().1]
    }
    fn objective(&self, x: &[f64]) -> f64;
    fn gradient(&self, x: &[f64]) -> Vec<f64>;
    fn constraints(&self, x: &[f64]) -> Vec<f64>;
    /// `G = ∇cᵀ`, m × d.
    fn jacobian(&self, x: &[f64]) -> Array2<f64>;
    /// `∇²_x L(x, λ)`, d × d.
    fn lagrangian_hessian(&self, x: &[f64], lambda: &[f64]) -> Array2<f64>;
    /// `∇²f(x)`: only the authors'-code variant of the merit gradient uses it.
    fn objective_hessian(&self, x: &[f64]) -> Array2<f64> {
        self.lagrangian_hessian(x, &vec![0.0; self.dims().1])
    }
}

/// Scalars a [`Smooth`] problem is evaluated in: f64 and num-dual's forward-mode duals.
pub trait Scalar: DualNum<Primitive = f64> + Copy {}
impl<T: DualNum<Primitive = f64> + Copy> Scalar for T {}

/// A constant in any [`Scalar`].
pub fn k<D: Scalar>(v: f64) -> D {
    D::from(v)
}

/// A small problem written once, generic over the scalar; [`AutoDiff`] derives gradient,
/// Jacobian and Hessians exactly (forward-mode hyper-dual numbers, no finite differences).
pub trait Smooth<const N: usize, const M: usize> {
    fn f<D: Scalar>(x: [D; N]) -> D;
    fn c<D: Scalar>(x: [D; N]) -> [D; M];
}

/// A [`Smooth`] problem with its name and starting point, as a [`Problem`].
#[derive(Debug, Clone)]
pub struct AutoDiff<P, const N: usize, const M: usize> {
    pub name: &'static str,
    pub x0: [f64; N],
    pub problem: P,
}

fn arr<const N: usize>(x: &[f64]) -> SVector<f64, N> {
    SVector::from_iterator(x.iter().copied())
}

impl<P: Smooth<N, M>, const N: usize, const M: usize> Problem for AutoDiff<P, N, M> {
    fn name(&self) -> &str {
        self.name
    }

    fn dims(&self) -> (usize, usize) {
        (N, M)
    }

    fn x0(&self) -> Vec<f64> {
        self.x0.to_vec()
    }

    fn objective(&self, x: &[f64]) -> f64 {
        P::f(<[f64; N]>::try_from(x).expect("x has d entries"))
    }

    fn gradient(&self, x: &[f64]) -> Vec<f64> {
        let (_, g, _) = hessian(|v| P::f::<_>(v.into()), &arr::<N>(x));
        g.iter().copied().collect()
    }

    fn constraints(&self, x: &[f64]) -> Vec<f64> {
        P::c(<[f64; N]>::try_from(x).expect("x has d entries")).to_vec()
    }

    fn jacobian(&self, x: &[f64]) -> Array2<f64> {
        let (_, j) = jacobian(|v| SVector::from(P::c::<_>(v.into())), &arr::<N>(x));
        Array2::from_shape_fn((M, N), |(i, l)| j[(i, l)])
    }

    fn lagrangian_hessian(&self, x: &[f64], lambda: &[f64]) -> Array2<f64> {
        let lam: [f64; M] = <[f64; M]>::try_from(lambda).expect("λ has m entries");
        let (_, _, h) = hessian(
            |v| {
                let xs = v.into();
                let c = P::c::<_>(xs);
                let mut l = P::f::<_>(xs);
                for (ci, li) in c.iter().zip(lam) {
                    l += *ci * li;
                }
                l
            },
            &arr::<N>(x),
        );
        Array2::from_shape_fn((N, N), |(i, j)| h[(i, j)])
    }

    fn objective_hessian(&self, x: &[f64]) -> Array2<f64> {
        let (_, _, h) = hessian(|v| P::f::<_>(v.into()), &arr::<N>(x));
        Array2::from_shape_fn((N, N), |(i, j)| h[(i, j)])
    }
}

/// A problem whose Lagrangian Hessian is available only through products `∇²_x L(x, λ)·v`
/// (automatic differentiation, a GPU kernel, finite differences of gradients). Wrap it in
/// [`FromHvp`] to solve it: the method needs ∇²L densely for the KKT matrix and the
/// reduced-Hessian test, so d products assemble it once per iteration.
pub trait HvpProblem {
    fn name(&self) -> &str;
    /// (d, m).
    fn dims(&self) -> (usize, usize);
    fn x0(&self) -> Vec<f64>;
    fn lambda0(&self) -> Vec<f64> {
        vec![0.0; self.dims().1]
    }
    fn objective(&self, x: &[f64]) -> f64;
    fn gradient(&self, x: &[f64]) -> Vec<f64>;
    fn constraints(&self, x: &[f64]) -> Vec<f64>;
    /// `G = ∇cᵀ`, m × d.
    fn jacobian(&self, x: &[f64]) -> Array2<f64>;
    /// `∇²_x L(x, λ)·v`.
    fn lagrangian_hvp(&self, x: &[f64], lambda: &[f64], v: &[f64]) -> Vec<f64>;
}

/// An [`HvpProblem`] as a [`Problem`]: ∇²L assembled column by column from d products and
/// symmetrised (products from finite differences or f32 kernels are symmetric only to their
/// rounding).
#[derive(Debug, Clone)]
pub struct FromHvp<P>(pub P);

impl<P: HvpProblem> FromHvp<P> {
    fn assemble(&self, x: &[f64], lambda: &[f64]) -> Array2<f64> {
        let d = self.0.dims().0;
        let mut h = Array2::<f64>::zeros((d, d));
        let mut e = vec![0.0; d];
        for j in 0..d {
            e[j] = 1.0;
            let col = self.0.lagrangian_hvp(x, lambda, &e);
            e[j] = 0.0;
            for (i, v) in col.iter().take(d).enumerate() {
                h[[i, j]] = *v;
            }
        }
        (&h + &h.t()) * 0.5
    }
}

impl<P: HvpProblem> Problem for FromHvp<P> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn dims(&self) -> (usize, usize) {
        self.0.dims()
    }

    fn x0(&self) -> Vec<f64> {
        self.0.x0()
    }

    fn lambda0(&self) -> Vec<f64> {
        self.0.lambda0()
    }

    fn objective(&self, x: &[f64]) -> f64 {
        self.0.objective(x)
    }

    fn gradient(&self, x: &[f64]) -> Vec<f64> {
        self.0.gradient(x)
    }

    fn constraints(&self, x: &[f64]) -> Vec<f64> {
        self.0.constraints(x)
    }

    fn jacobian(&self, x: &[f64]) -> Array2<f64> {
        self.0.jacobian(x)
    }

    fn lagrangian_hessian(&self, x: &[f64], lambda: &[f64]) -> Array2<f64> {
        self.assemble(x, lambda)
    }
}
