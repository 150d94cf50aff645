//! Forward-mode derivatives: every layer maps a value `x` and its tangent `ẋ` (the derivative of
//! `x` along one input direction) to `(y, ẏ)`, so one pass gives the exact derivative of every
//! output along that direction.
//!
//! candle's fused kernels (`layer_norm`, `softmax_last_dim`, `sdpa`) carry no gradient, so
//! LayerNorm is always composed from basic tensor ops that candle's autograd differentiates, and
//! so is softmax whenever autograd tracks its input (a `Var` upstream, as in training). Without
//! tracking (inference), softmax over long rows runs the fused kernel: the same values, and it
//! dominates the cost at long contexts. The fused `layer_norm` is never used: it has no f64
//! kernel and takes the variance as E[x²] − E[x]² in f32.
use candle_core::{D, DType, Result, Tensor};

/// A value with an optional tangent of the same shape.
#[derive(Debug, Clone)]
pub struct Dual {
    pub x: Tensor,
    pub t: Option<Tensor>,
}

impl Dual {
    pub fn new(x: Tensor, t: Option<Tensor>) -> Dual {
        Dual { x, t }
    }

    /// A value without tangent (constant along the direction).
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

    /// Applies the same linear, shape-only map (reshape, transpose, narrow…) to both parts.
    pub fn map(&self, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Dual> {
        Ok(Dual::new(f(&self.x)?, self.t.as_ref().map(&f).transpose()?))
    }
}

/// Half-precision inputs are normalised in f32, as PyTorch's autocast does.
fn internal_dtype(dtype: DType) -> DType {
    match dtype {
        DType::F16 | DType::BF16 => DType::F32,
        d => d,
    }
}

/// LayerNorm over the last dimension (biased variance, as PyTorch).
///
/// With x̂ = (x − μ)/σ the tangent is ẋ̂ = (ẋ − mean(ẋ) − x̂·mean(x̂ ẋ)) / σ and ẏ = γ ⊙ ẋ̂.
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

/// Shortest row for the fused softmax kernel: it dispatches rows in parallel, which on short
/// rows costs more than it saves (measured on 2 cores: composed ops are ~2× faster at 4–65
/// tokens, the fused kernel 15–40% faster at 257–513).
const FUSED_SOFTMAX_MIN_ROW: usize = 128;

/// Softmax over the last dimension, with ṗ = p ⊙ (ṡ − Σ p ⊙ ṡ).
pub fn softmax_last_dim(scores: &Dual) -> Result<Dual> {
    let dtype = scores.x.dtype();
    let s = scores.x.to_dtype(internal_dtype(dtype))?;
    let p = if s.track_op() || s.dim(D::Minus1)? < FUSED_SOFTMAX_MIN_ROW {
        // Softmax is shift-invariant, so the row maximum is a constant for autograd.
        let shifted = s.broadcast_sub(&s.max_keepdim(D::Minus1)?.detach())?;
        let e = shifted.exp()?;
        e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?
    } else {
        candle_nn::ops::softmax_last_dim(&s.contiguous()?)?
    };
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

/// ReLU; its derivative at 0 is 0, as PyTorch's.
pub fn relu(input: &Dual) -> Result<Dual> {
    let y = input.x.relu()?;
    let t = match &input.t {
        None => None,
        Some(t) => Some((t * input.x.gt(0.0)?.to_dtype(t.dtype())?)?),
    };
    Ok(Dual::new(y, t))
}

/// LeakyReLU; its derivative at 0 is `negative_slope`, as PyTorch's.
pub fn leaky_relu(input: &Dual, negative_slope: f64) -> Result<Dual> {
    let y = candle_nn::ops::leaky_relu(&input.x, negative_slope)?;
    let t = match &input.t {
        None => None,
        Some(t) => {
            let positive = input.x.gt(0.0)?.to_dtype(t.dtype())?;
            let slope = ((positive * (1.0 - negative_slope))? + negative_slope)?;
            Some((t * slope)?)
        }
    };
    Ok(Dual::new(y, t))
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
        let w = t(&[1.5, -0.5, 2.0], &[3]);
        let b = t(&[0.1, 0.2, 0.3], &[3]);
        let out = layer_norm(&Dual::new(x.clone(), Some(dir.clone())), &w, &b, 1e-5).unwrap();
        // Row 0: mean 7/3, biased variance 14/9.
        let sd = (14.0f64 / 9.0 + 1e-5).sqrt();
        let expected0: Vec<f64> = [1.0, 2.0, 4.0]
            .iter()
            .zip([1.5, -0.5, 2.0])
            .zip([0.1, 0.2, 0.3])
            .map(|((x, w), b)| (x - 7.0 / 3.0) / sd * w + b)
            .collect();
        assert_close(&vec(&out.x)[..3], &expected0, 1e-12);
        let numeric = fd(|x| layer_norm(&Dual::constant(x.clone()), &w, &b, 1e-5).unwrap().x, &x, &dir);
        assert_close(&vec(&out.t.unwrap()), &numeric, 1e-7);
    }

    #[test]
    fn softmax_value_and_tangent() {
        let s = t(&[0.5, -1.0, 2.0, 0.0, 3.0, 1.0], &[2, 3]);
        let dir = t(&[1.0, 0.5, -0.3, -2.0, 0.1, 0.7], &[2, 3]);
        let out = softmax_last_dim(&Dual::new(s.clone(), Some(dir.clone()))).unwrap();
        let z: f64 = [0.5f64, -1.0, 2.0].iter().map(|v| v.exp()).sum();
        assert_close(&vec(&out.x)[..3], &[0.5f64.exp() / z, (-1.0f64).exp() / z, 2.0f64.exp() / z], 1e-12);
        let numeric = fd(|s| softmax_last_dim(&Dual::constant(s.clone())).unwrap().x, &s, &dir);
        assert_close(&vec(&out.t.unwrap()), &numeric, 1e-7);
    }

    #[test]
    fn fused_softmax_on_long_rows_agrees_with_composed() {
        let n = 2 * FUSED_SOFTMAX_MIN_ROW;
        let data: Vec<f64> = (0..2 * n).map(|i| ((i * 37 % 101) as f64 - 50.0) / 7.0).collect();
        let s = t(&data, &[2, n]);
        let var = candle_core::Var::from_tensor(&s).unwrap();
        let composed = softmax_last_dim(&Dual::constant(var.as_tensor().clone())).unwrap().x;
        let fused = softmax_last_dim(&Dual::constant(s)).unwrap().x;
        assert!(composed.track_op() && !fused.track_op());
        assert_close(&vec(&fused), &vec(&composed), 1e-14);
        let row_sum: f64 = vec(&fused)[..n].iter().sum();
        assert!((row_sum - 1.0).abs() < 1e-12);
    }

    #[test]
    fn tracked_softmax_is_composed_and_agrees() {
        let s = t(&[0.5, -1.0, 2.0, 0.0, 3.0, 1.0], &[2, 3]);
        let var = candle_core::Var::from_tensor(&s).unwrap();
        let tracked = softmax_last_dim(&Dual::constant(var.as_tensor().clone())).unwrap().x;
        assert!(tracked.track_op());
        assert_close(&vec(&tracked), &vec(&softmax_last_dim(&Dual::constant(s)).unwrap().x), 1e-15);
        // d Σ w⊙p / d s through the composed ops: p ⊙ (w − Σ w⊙p).
        let w = t(&[1.0, 2.0, 3.0, -1.0, 0.0, 1.0], &[2, 3]);
        let grads = (&tracked * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let grad = vec(grads.get(var.as_tensor()).unwrap());
        let p = vec(&tracked);
        let wv = vec(&w);
        for r in 0..2 {
            let mean: f64 = (0..3).map(|j| p[r * 3 + j] * wv[r * 3 + j]).sum();
            let expected: Vec<f64> = (0..3).map(|j| p[r * 3 + j] * (wv[r * 3 + j] - mean)).collect();
            assert_close(&grad[r * 3..r * 3 + 3], &expected, 1e-12);
        }
    }

    #[test]
    fn activations_value_and_tangent() {
        let x = t(&[-2.0, -0.5, 0.0, 0.5, 3.0], &[5]);
        let dir = t(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5]);
        let r = relu(&Dual::new(x.clone(), Some(dir.clone()))).unwrap();
        assert_eq!(vec(&r.x), [0.0, 0.0, 0.0, 0.5, 3.0]);
        assert_eq!(vec(&r.t.unwrap()), [0.0, 0.0, 0.0, 4.0, 5.0]);
        let l = leaky_relu(&Dual::new(x, Some(dir)), 0.01).unwrap();
        assert_close(&vec(&l.x), &[-0.02, -0.005, 0.0, 0.5, 3.0], 1e-15);
        assert_close(&vec(&l.t.unwrap()), &[0.01, 0.02, 0.03, 4.0, 5.0], 1e-15);
    }

    #[test]
    fn linear_over_leading_dims() {
        let lin =
            Linear { weight: t(&[1.0, 2.0, 0.0, -1.0, 0.5, 3.0], &[3, 2]), bias: Some(t(&[0.1, 0.2, 0.3], &[3])) };
        let x = t(&[1.0, 1.0, 2.0, -1.0], &[2, 1, 2]);
        let out = lin.forward(&Dual::new(x.clone(), Some(x))).unwrap();
        assert_eq!(out.x.dims(), [2, 1, 3]);
        assert_close(&vec(&out.x), &[3.1, -0.8, 3.8, 0.1, 1.2, -1.7], 1e-12);
        assert_close(&vec(&out.t.unwrap()), &[3.0, -1.0, 3.5, 0.0, 1.0, -2.0], 1e-12);
    }
}
