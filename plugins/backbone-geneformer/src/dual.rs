//! Forward-mode derivatives. A [`Dual`] carries a value `x` and optionally its tangent `ẋ` (the
//! derivative of `x` along one input direction); every operation maps `(x, ẋ)` to `(y, ẏ)`, so
//! one pass yields the exact derivative of every output along that direction.
//!
//! Everything is composed from candle's elementary tensor ops: candle-nn's fused `layer_norm`,
//! `softmax_last_dim` and `sdpa` kernels have no derivative, and composing keeps the value path
//! differentiable by candle's reverse-mode autograd as well.
use candle_core::{D, DType, Result, Tensor};

/// A value with an optional tangent of the same shape (`None`: constant along the direction).
#[derive(Debug, Clone)]
pub struct Dual {
    pub x: Tensor,
    pub t: Option<Tensor>,
}

impl Dual {
    pub fn new(x: Tensor, t: Option<Tensor>) -> Dual {
        Dual { x, t }
    }

    pub fn constant(x: Tensor) -> Dual {
        Dual { x, t: None }
    }

    pub fn add(&self, other: &Dual) -> Result<Dual> {
        let t = match (&self.t, &other.t) {
            (Some(a), Some(b)) => Some((a + b)?),
            (Some(a), None) | (None, Some(a)) => Some(a.clone()),
            (None, None) => None,
        };
        Ok(Dual::new((&self.x + &other.x)?, t))
    }

    /// Applies one linear map (reshape, transpose, narrow, a constant factor…) to both parts.
    pub fn map(&self, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Dual> {
        Ok(Dual::new(f(&self.x)?, self.t.as_ref().map(&f).transpose()?))
    }
}

/// The product rule for a bilinear `f` (e.g. a matrix product): `f(a, b)` with tangent
/// `f(ȧ, b) + f(a, ḃ)`.
pub fn bilinear(a: &Dual, b: &Dual, f: impl Fn(&Tensor, &Tensor) -> Result<Tensor>) -> Result<Dual> {
    let t = match (&a.t, &b.t) {
        (Some(at), Some(bt)) => Some((f(at, &b.x)? + f(&a.x, bt)?)?),
        (Some(at), None) => Some(f(at, &b.x)?),
        (None, Some(bt)) => Some(f(&a.x, bt)?),
        (None, None) => None,
    };
    Ok(Dual::new(f(&a.x, &b.x)?, t))
}

/// Half-precision activations are normalised in f32, as PyTorch's autocast does.
fn internal_dtype(dtype: DType) -> DType {
    match dtype {
        DType::F16 | DType::BF16 => DType::F32,
        d => d,
    }
}

/// LayerNorm over the last dimension with biased variance, as PyTorch's.
///
/// With x̂ = (x − μ)/σ the tangent is ẋ̂ = (ẋ − mean(ẋ) − x̂·mean(x̂ ⊙ ẋ)) / σ, and ẏ = γ ⊙ ẋ̂.
pub fn layer_norm(input: &Dual, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Dual> {
    let dtype = input.x.dtype();
    let x = input.x.to_dtype(internal_dtype(dtype))?;
    let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let inv_std = (centred.sqr()?.mean_keepdim(D::Minus1)? + eps)?.sqrt()?.recip()?;
    let normed = centred.broadcast_mul(&inv_std)?;
    let y = normed.to_dtype(dtype)?.broadcast_mul(weight)?.broadcast_add(bias)?;
    let t = match &input.t {
        None => None,
        Some(t) => {
            let t = t.to_dtype(normed.dtype())?;
            let t_centred = t.broadcast_sub(&t.mean_keepdim(D::Minus1)?)?;
            let along = (&normed * &t)?.mean_keepdim(D::Minus1)?;
            let t_normed = (t_centred - normed.broadcast_mul(&along)?)?.broadcast_mul(&inv_std)?;
            Some(t_normed.to_dtype(dtype)?.broadcast_mul(weight)?)
        }
    };
    Ok(Dual::new(y, t))
}

/// Softmax over the last dimension, with ṗ = p ⊙ (ṡ − Σ p ⊙ ṡ).
pub fn softmax_last_dim(scores: &Dual) -> Result<Dual> {
    let dtype = scores.x.dtype();
    let s = scores.x.to_dtype(internal_dtype(dtype))?;
    // Softmax is shift-invariant, so subtracting the row maximum changes nothing but overflow.
    let e = s.broadcast_sub(&s.max_keepdim(D::Minus1)?.detach())?.exp()?;
    let p = e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?;
    let t = match &scores.t {
        None => None,
        Some(t) => {
            let t = t.to_dtype(p.dtype())?;
            let mean = (&p * &t)?.sum_keepdim(D::Minus1)?;
            Some((&p * t.broadcast_sub(&mean)?)?.to_dtype(dtype)?)
        }
    };
    Ok(Dual::new(p.to_dtype(dtype)?, t))
}

/// `log Σ exp(x)` over the last dimension, keeping it (size 1).
pub fn logsumexp_last_dim(x: &Tensor) -> Result<Tensor> {
    let dtype = x.dtype();
    let x = x.to_dtype(internal_dtype(dtype))?;
    let max = x.max_keepdim(D::Minus1)?.detach();
    let sum = x.broadcast_sub(&max)?.exp()?.sum_keepdim(D::Minus1)?;
    (sum.log()? + max)?.to_dtype(dtype)
}

/// ReLU; its derivative at 0 is 0, as PyTorch's.
pub fn relu(input: &Dual) -> Result<Dual> {
    let t = match &input.t {
        None => None,
        Some(t) => Some((t * input.x.gt(0.0)?.to_dtype(t.dtype())?)?),
    };
    Ok(Dual::new(input.x.relu()?, t))
}

/// The exact GELU x·Φ(x) (PyTorch's `gelu`, Hugging Face's `"gelu"`), with derivative
/// Φ(x) + x·φ(x).
pub fn gelu(input: &Dual) -> Result<Dual> {
    let x = &input.x;
    let t = match &input.t {
        None => None,
        Some(t) => {
            let cdf = ((x / std::f64::consts::SQRT_2)?.erf()? + 1.0)? * 0.5;
            let pdf = ((x.sqr()? * -0.5)?.exp()? / (2.0 * std::f64::consts::PI).sqrt())?;
            Some((t * (cdf? + (x * pdf)?)?)?)
        }
    };
    Ok(Dual::new(x.gelu_erf()?, t))
}

/// A dense layer `y = x Wᵀ + b` over the last dimension; the tangent is `ẋ Wᵀ`.
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    pub fn forward(&self, input: &Dual) -> Result<Dual> {
        let y = self.apply(&input.x)?;
        let y = match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        Ok(Dual::new(y, input.t.as_ref().map(|t| self.apply(t)).transpose()?))
    }

    /// `x Wᵀ` as one matrix product over all leading dimensions.
    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let mut dims = x.dims().to_vec();
        let rows = x.elem_count() / dims[dims.len() - 1];
        let y = x.reshape((rows, ()))?.matmul(&self.weight.t()?)?;
        *dims.last_mut().expect("a linear input has a feature dimension") = self.weight.dim(0)?;
        y.reshape(dims)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    fn t(data: &[f64], shape: &[usize]) -> Tensor {
        Tensor::from_slice(data, shape, &Device::Cpu).unwrap()
    }

    fn vec(x: &Tensor) -> Vec<f64> {
        x.flatten_all().unwrap().to_vec1().unwrap()
    }

    /// Central difference of `f` along `dir` at `x`.
    fn fd(f: impl Fn(&Tensor) -> Tensor, x: &Tensor, dir: &Tensor) -> Vec<f64> {
        let h = 1e-6;
        let plus = f(&(x + (dir * h).unwrap()).unwrap());
        let minus = f(&(x - (dir * h).unwrap()).unwrap());
        vec(&((plus - minus).unwrap() / (2.0 * h)).unwrap())
    }

    fn assert_close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "element {i}: {x} vs {y}");
        }
    }

    #[test]
    fn layer_norm_value_and_tangent() {
        let x = t(&[1.0, 2.0, 4.0, -1.0, 0.5, 3.0], &[2, 3]);
        let dir = t(&[0.3, -1.0, 0.2, 1.0, 0.0, -0.5], &[2, 3]);
        let (w, b) = (t(&[1.5, -0.5, 2.0], &[3]), t(&[0.1, 0.2, 0.3], &[3]));
        let out = layer_norm(&Dual::new(x.clone(), Some(dir.clone())), &w, &b, 1e-12).unwrap();
        // Row 0: mean 7/3, biased variance 14/9.
        let sd = (14.0f64 / 9.0 + 1e-12).sqrt();
        let expected: Vec<f64> = [(1.0, 1.5, 0.1), (2.0, -0.5, 0.2), (4.0, 2.0, 0.3)]
            .iter()
            .map(|(x, w, b)| (x - 7.0 / 3.0) / sd * w + b)
            .collect();
        assert_close(&vec(&out.x)[..3], &expected, 1e-12);
        let numeric = fd(|x| layer_norm(&Dual::constant(x.clone()), &w, &b, 1e-12).unwrap().x, &x, &dir);
        assert_close(&vec(&out.t.unwrap()), &numeric, 1e-7);
    }

    #[test]
    fn softmax_and_logsumexp() {
        let s = t(&[0.5, -1.0, 2.0, 0.0, 3.0, 1.0], &[2, 3]);
        let dir = t(&[1.0, 0.5, -0.3, -2.0, 0.1, 0.7], &[2, 3]);
        let out = softmax_last_dim(&Dual::new(s.clone(), Some(dir.clone()))).unwrap();
        let z: f64 = [0.5f64, -1.0, 2.0].iter().map(|v| v.exp()).sum();
        assert_close(&vec(&out.x)[..3], &[0.5f64.exp() / z, (-1.0f64).exp() / z, 2.0f64.exp() / z], 1e-12);
        let numeric = fd(|s| softmax_last_dim(&Dual::constant(s.clone())).unwrap().x, &s, &dir);
        assert_close(&vec(&out.t.unwrap()), &numeric, 1e-7);
        assert_close(&vec(&logsumexp_last_dim(&s).unwrap()), &[z.ln(), (1.0f64 + 3f64.exp() + 1f64.exp()).ln()], 1e-12);
    }

    #[test]
    fn activations_value_and_tangent() {
        let x = t(&[-2.0, -0.5, 0.0, 0.5, 3.0], &[5]);
        let dir = t(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5]);
        let r = relu(&Dual::new(x.clone(), Some(dir.clone()))).unwrap();
        assert_eq!(vec(&r.x), [0.0, 0.0, 0.0, 0.5, 3.0]);
        assert_eq!(vec(&r.t.unwrap()), [0.0, 0.0, 0.0, 4.0, 5.0]);
        let g = gelu(&Dual::new(x.clone(), Some(dir.clone()))).unwrap();
        // Φ(−2) = 0.0227501319481792, Φ(0.5) = 0.691462461274013 (erf tables).
        assert_close(&vec(&g.x)[..1], &[-2.0 * 0.0227501319481792], 1e-12);
        assert_close(&vec(&g.x)[3..4], &[0.5 * 0.691462461274013], 1e-12);
        let numeric = fd(|x| gelu(&Dual::constant(x.clone())).unwrap().x, &x, &dir);
        assert_close(&vec(&g.t.unwrap()), &numeric, 1e-7);
    }

    #[test]
    fn linear_and_bilinear() {
        let lin = Linear { weight: t(&[1.0, 2.0, 0.0, -1.0, 0.5, 3.0], &[3, 2]), bias: Some(t(&[0.1, 0.2, 0.3], &[3])) };
        let x = t(&[1.0, 1.0, 2.0, -1.0], &[2, 1, 2]);
        let out = lin.forward(&Dual::new(x.clone(), Some(x))).unwrap();
        assert_eq!(out.x.dims(), [2, 1, 3]);
        assert_close(&vec(&out.x), &[3.1, -0.8, 3.8, 0.1, 1.2, -1.7], 1e-12);
        assert_close(&vec(&out.t.unwrap()), &[3.0, -1.0, 3.5, 0.0, 1.0, -2.0], 1e-12);
        let a = Dual::new(t(&[1.0, 2.0], &[1, 2]), Some(t(&[1.0, 0.0], &[1, 2])));
        let b = Dual::new(t(&[3.0, 4.0], &[2, 1]), Some(t(&[0.0, 1.0], &[2, 1])));
        let p = bilinear(&a, &b, |a, b| a.matmul(b)).unwrap();
        assert_eq!((vec(&p.x), vec(&p.t.unwrap())), (vec![11.0], vec![3.0 + 2.0]));
    }
}
