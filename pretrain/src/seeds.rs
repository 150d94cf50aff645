//! The seed's ChaCha8 streams, one per use; epoch `e` draws from `EPOCH_STREAM + e`.
use candle_core::Tensor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ugrn_backbone_scgpt::init::{self, ParamDef};
use ugrn_candle_shared::Context;
use ugrn_sdk::Result;

/// Stream 0, as `ugrn_backbone_scgpt::testing::write_random_checkpoint` draws its weights.
const INIT_STREAM: u64 = 0;
pub(crate) const SPLIT_STREAM: u64 = 1;
pub(crate) const VALIDATION_STREAM: u64 = 2;
pub(crate) const EVAL_STREAM: u64 = 3;
/// The masks of the training cells the ridge reference is fitted on.
pub(crate) const REFERENCE_STREAM: u64 = 4;
pub(crate) const EPOCH_STREAM: u64 = 16;

pub(crate) fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// The weights pretraining with `seed` starts from: PyTorch's initialisation of `defs`.
pub(crate) fn initial_tensors(defs: &[ParamDef], seed: u64) -> Result<Vec<Tensor>> {
    let mut rng = rng(seed, INIT_STREAM);
    init::initial_tensors(defs, |bound| rng.random_range(-bound..bound)).context("initialising weights")
}
