//! Forward-mode derivatives: the shared tangent operations of [`ugrn_candle_shared::dual`], with
//! scGPT's choice of softmax kernel and the LeakyReLU of its expression decoder.
use candle_core::Result;
pub use ugrn_candle_shared::dual::{Dual, Linear, layer_norm, relu};

/// Shortest row for the fused softmax kernel: it dispatches rows in parallel, which on short
/// rows costs more than it saves (measured on 2 cores: composed ops are ~2× faster at 4–65
/// tokens, the fused kernel 15–40% faster at 257–513).
const FUSED_SOFTMAX_MIN_ROW: usize = 128;

/// Softmax over the last dimension, with ṗ = p ⊙ (ṡ − Σ p ⊙ ṡ). Without autograd tracking
/// (inference), rows of at least `FUSED_SOFTMAX_MIN_ROW` tokens take the fused kernel: the same
/// values, and it dominates the cost at long contexts.
pub fn softmax_last_dim(scores: &Dual) -> Result<Dual> {
    ugrn_candle_shared::dual::softmax_last_dim_fused_from(scores, FUSED_SOFTMAX_MIN_ROW)
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

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;

    #[test]
    fn leaky_relu_value_and_tangent() {
        let x = Tensor::new(&[-2.0f64, -0.5, 0.0, 0.5, 3.0], &Device::Cpu).unwrap();
        let dir = Tensor::new(&[1.0f64, 2.0, 3.0, 4.0, 5.0], &Device::Cpu).unwrap();
        let l = leaky_relu(&Dual::new(x, Some(dir)), 0.01).unwrap();
        for (got, expected) in [(l.x, [-0.02, -0.005, 0.0, 0.5, 3.0]), (l.t.unwrap(), [0.01, 0.02, 0.03, 4.0, 5.0])] {
            let got: Vec<f64> = got.to_vec1().unwrap();
            assert!(got.iter().zip(expected).all(|(a, b)| (a - b).abs() <= 1e-15 * (1.0 + b.abs())), "{got:?}");
        }
    }
}
