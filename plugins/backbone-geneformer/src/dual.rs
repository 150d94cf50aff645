//! Forward-mode derivatives: the shared tangent operations of [`ugrn_candle_shared::dual`]
//! (softmax composed, except for the shared f32 CPU kernel in inference), with what only BERT's
//! masked LM needs: the product rule for attention's matrix products, GELU, and the log-sum-exp
//! of the MLM head.
use candle_core::{D, Result, Tensor};
use ugrn_candle_shared::dual::internal_dtype;
pub use ugrn_candle_shared::dual::{Dual, Linear, layer_norm, relu, softmax_last_dim};

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

/// `log Σ exp(x)` over the last dimension, keeping it (size 1).
pub fn logsumexp_last_dim(x: &Tensor) -> Result<Tensor> {
    let dtype = x.dtype();
    let x = x.to_dtype(internal_dtype(dtype))?;
    let max = x.max_keepdim(D::Minus1)?.detach();
    let sum = x.broadcast_sub(&max)?.exp()?.sum_keepdim(D::Minus1)?;
    (sum.log()? + max)?.to_dtype(dtype)
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

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    /// Whether `a` holds `expected`, each to `tol` relative to the expected value.
    fn holds(a: &Tensor, expected: &[f64], tol: f64) -> bool {
        let a: Vec<f64> = a.flatten_all().unwrap().to_vec1().unwrap();
        a.len() == expected.len() && a.iter().zip(expected).all(|(x, y)| (x - y).abs() <= tol * (1.0 + y.abs()))
    }

    #[test]
    fn logsumexp() {
        let s = Tensor::new(&[[0.5f64, -1.0, 2.0], [0.0, 3.0, 1.0]], &Device::Cpu).unwrap();
        let expected = [(0.5f64.exp() + (-1.0f64).exp() + 2f64.exp()).ln(), (1.0f64 + 3f64.exp() + 1f64.exp()).ln()];
        assert!(holds(&logsumexp_last_dim(&s).unwrap(), &expected, 1e-12));
    }

    #[test]
    fn gelu_value_and_tangent() {
        let x = Tensor::new(&[-2.0f64, -0.5, 0.0, 0.5, 3.0], &Device::Cpu).unwrap();
        let dir = Tensor::new(&[1.0f64, 2.0, 3.0, 4.0, 5.0], &Device::Cpu).unwrap();
        let g = gelu(&Dual::new(x.clone(), Some(dir.clone()))).unwrap();
        // Φ(−2) = 0.0227501319481792, Φ(0.5) = 0.691462461274013 (erf tables).
        assert!(holds(&g.x.narrow(0, 0, 1).unwrap(), &[-2.0 * 0.0227501319481792], 1e-12));
        assert!(holds(&g.x.narrow(0, 3, 1).unwrap(), &[0.5 * 0.691462461274013], 1e-12));
        // Central difference along `dir`.
        let h = 1e-6;
        let at = |x: Tensor| gelu(&Dual::constant(x)).unwrap().x;
        let (plus, minus) = (at((&x + (&dir * h).unwrap()).unwrap()), at((&x - (&dir * h).unwrap()).unwrap()));
        let numeric: Vec<f64> = ((plus - minus).unwrap() / (2.0 * h)).unwrap().to_vec1().unwrap();
        assert!(holds(&g.t.unwrap(), &numeric, 1e-7));
    }

    #[test]
    fn bilinear_product_rule() {
        let m = |data: &[f64], shape: (usize, usize)| Tensor::from_slice(data, shape, &Device::Cpu).unwrap();
        let a = Dual::new(m(&[1.0, 2.0], (1, 2)), Some(m(&[1.0, 0.0], (1, 2))));
        let b = Dual::new(m(&[3.0, 4.0], (2, 1)), Some(m(&[0.0, 1.0], (2, 1))));
        let p = bilinear(&a, &b, |a, b| a.matmul(b)).unwrap();
        assert!(holds(&p.x, &[11.0], 0.0) && holds(&p.t.unwrap(), &[3.0 + 2.0], 0.0));
    }
}
