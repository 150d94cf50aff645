//! Forward-mode derivatives. A [`Dual`] carries a value `x` and optionally its tangent `ẋ` (the
//! derivative of `x` along one input direction); every operation maps `(x, ẋ)` to `(y, ẏ)`, so
//! one pass yields the exact derivative of every output along that direction.
//!
//! candle-nn's fused kernels (`layer_norm`, `softmax_last_dim`, `sdpa`) carry no derivative, so
//! the operations here are composed from candle's elementary tensor ops, which also keeps the
//! value path differentiable by candle's reverse-mode autograd. LayerNorm is always composed:
//! the fused kernel has no f64 version and takes the variance as `E[x²] − E[x]²` in f32. Softmax
//! values and tangents in f32 on the CPU that autograd does not track take the one-pass kernels
//! of [`crate::kernels`]; elsewhere (f64, CUDA) untracked values may take candle-nn's fused
//! kernel ([`softmax_last_dim_fused_from`]), where it dominates the cost at long contexts.
//!
//! Activations only one backbone uses (GELU, LeakyReLU) live in that backbone.
use candle_core::{D, DType, Result, Tensor};

use crate::kernels;

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

    /// Applies one linear map (reshape, transpose, narrow, a constant factor…) to both parts.
    pub fn map(&self, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Dual> {
        Ok(Dual::new(f(&self.x)?, self.t.as_ref().map(&f).transpose()?))
    }
}

/// The dtype normalisations and reductions run in: half-precision values are computed in f32,
/// as PyTorch's autocast does.
pub fn internal_dtype(dtype: DType) -> DType {
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

/// Softmax over the last dimension, composed from elementary ops, with ṗ = p ⊙ (ṡ − Σ p ⊙ ṡ).
pub fn softmax_last_dim(scores: &Dual) -> Result<Dual> {
    softmax(scores, None)
}

/// [`softmax_last_dim`], except that where the f32 CPU kernel does not apply (f64, CUDA), the
/// values of rows of at least `min_row` entries that autograd does not track come from
/// candle-nn's fused kernel: the same values, faster on long rows (it dispatches rows in
/// parallel, which on short rows costs more than it saves).
pub fn softmax_last_dim_fused_from(scores: &Dual, min_row: usize) -> Result<Dual> {
    softmax(scores, Some(min_row))
}

fn softmax(scores: &Dual, fused_min_row: Option<usize>) -> Result<Dual> {
    let dtype = scores.x.dtype();
    let s = scores.x.to_dtype(internal_dtype(dtype))?;
    let p = if !s.track_op() && kernels::applies(&s) {
        kernels::softmax_last_dim(&s)?
    } else if fused_min_row.is_some_and(|min_row| !s.track_op() && s.dim(D::Minus1).is_ok_and(|n| n >= min_row)) {
        candle_nn::ops::softmax_last_dim(&s.contiguous()?)?
    } else {
        // Softmax is shift-invariant, so the row maximum is a constant for autograd; subtracting
        // it only keeps exp from overflowing.
        let e = s.broadcast_sub(&s.max_keepdim(D::Minus1)?.detach())?.exp()?;
        e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?
    };
    let t = match &scores.t {
        None => None,
        Some(t) => {
            let t = t.to_dtype(p.dtype())?;
            let t = if kernels::applies(&p) && !p.track_op() && !t.track_op() {
                kernels::softmax_tangent(&p, &t)?
            } else {
                let mean = (&p * &t)?.sum_keepdim(D::Minus1)?;
                (&p * t.broadcast_sub(&mean)?)?
            };
            Some(t.to_dtype(dtype)?)
        }
    };
    Ok(Dual::new(p.to_dtype(dtype)?, t))
}

/// ReLU; its derivative at 0 is 0, as PyTorch's.
pub fn relu(input: &Dual) -> Result<Dual> {
    let t = match &input.t {
        None => None,
        Some(t) => Some((t * input.x.gt(0.0)?.to_dtype(t.dtype())?)?),
    };
    Ok(Dual::new(input.x.relu()?, t))
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
    use candle_core::{Device, Var};

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
        // PyTorch's default eps (scGPT) and BERT's (Geneformer).
        for eps in [1e-5, 1e-12] {
            let out = layer_norm(&Dual::new(x.clone(), Some(dir.clone())), &w, &b, eps).unwrap();
            // Row 0: mean 7/3, biased variance 14/9.
            let sd = (14.0f64 / 9.0 + eps).sqrt();
            let expected: Vec<f64> = [(1.0, 1.5, 0.1), (2.0, -0.5, 0.2), (4.0, 2.0, 0.3)]
                .iter()
                .map(|(x, w, b)| (x - 7.0 / 3.0) / sd * w + b)
                .collect();
            assert_close(&vec(&out.x)[..3], &expected, 1e-12);
            let numeric = fd(|x| layer_norm(&Dual::constant(x.clone()), &w, &b, eps).unwrap().x, &x, &dir);
            assert_close(&vec(&out.t.unwrap()), &numeric, 1e-7);
        }
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
        let n = 256;
        let data: Vec<f64> = (0..2 * n).map(|i| ((i * 37 % 101) as f64 - 50.0) / 7.0).collect();
        let s = t(&data, &[2, n]);
        let var = Var::from_tensor(&s).unwrap();
        let composed = softmax_last_dim_fused_from(&Dual::constant(var.as_tensor().clone()), n / 2).unwrap().x;
        let fused = softmax_last_dim_fused_from(&Dual::constant(s), n / 2).unwrap().x;
        assert!(composed.track_op() && !fused.track_op());
        assert_close(&vec(&fused), &vec(&composed), 1e-14);
        let row_sum: f64 = vec(&fused)[..n].iter().sum();
        assert!((row_sum - 1.0).abs() < 1e-12);
    }

    #[test]
    fn f32_softmax_takes_the_kernel_only_when_untracked() {
        let s = Tensor::new(&[[0.5f32, -1.0, 2.0], [0.0, 3.0, 1.0]], &Device::Cpu).unwrap();
        let dir = Tensor::new(&[[1.0f32, 0.5, -0.3], [-2.0, 0.1, 0.7]], &Device::Cpu).unwrap();
        let plain = softmax_last_dim(&Dual::new(s.clone(), Some(dir.clone()))).unwrap();
        assert!(!plain.x.track_op());
        // A tracked tangent of untracked scores: the tangent must keep its graph.
        let tangent = Var::from_tensor(&dir).unwrap();
        let tracked = softmax_last_dim(&Dual::new(s.clone(), Some(tangent.as_tensor().clone()))).unwrap();
        let (x, t) = (tracked.x, tracked.t.unwrap());
        assert!(t.track_op());
        // Tracked scores take the composed values too.
        let var = Var::from_tensor(&s).unwrap();
        assert!(softmax_last_dim(&Dual::constant(var.as_tensor().clone())).unwrap().x.track_op());
        let f = |t: &Tensor| t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        assert_close(&f(&x), &f(&plain.x), 1e-6);
        assert_close(&f(&t), &f(&plain.t.unwrap()), 1e-6);
        let grads = t.sum_all().unwrap().backward().unwrap();
        assert!(grads.get(tangent.as_tensor()).is_some(), "the tangent's graph was dropped");
    }

    #[test]
    fn tracked_softmax_is_composed_and_agrees() {
        let s = t(&[0.5, -1.0, 2.0, 0.0, 3.0, 1.0], &[2, 3]);
        let var = Var::from_tensor(&s).unwrap();
        // A row of 3 would take the fused kernel if it were not tracked.
        let tracked = softmax_last_dim_fused_from(&Dual::constant(var.as_tensor().clone()), 1).unwrap().x;
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
    fn relu_value_and_tangent() {
        let x = t(&[-2.0, -0.5, 0.0, 0.5, 3.0], &[5]);
        let dir = t(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5]);
        let r = relu(&Dual::new(x, Some(dir))).unwrap();
        assert_eq!(vec(&r.x), [0.0, 0.0, 0.0, 0.5, 3.0]);
        assert_eq!(vec(&r.t.unwrap()), [0.0, 0.0, 0.0, 4.0, 5.0]);
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
