//! Support for tests and benchmarks (feature `testing`, for dev-dependencies only): checkpoints of
//! any size with seeded random weights, where no pretrained weights exist, and reading written
//! checkpoint files back (these panic on failure, as test assertions do).
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::Device;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ugrn_candle_shared::Context;
use ugrn_sdk::{Error, Result, TokenId};

use crate::checkpoint::{ARGS_FILE, SAFETENSORS_FILE, VOCAB_FILE, write_atomically, write_json};
use crate::config::Config;
use crate::init;
use crate::vocab::{SPECIAL_TOKENS, Vocab};

/// Writes a checkpoint folder in the released layout with the architecture of `args` (an
/// `args.json`, copied), the vocabulary of `genes` (a `vocab.json`; `<pad>`, `<cls>` and `<eoc>`
/// are appended after the genes where absent, as scGPT_human's vocabulary extends the census one)
/// and the seeded random weights `ugrn pretrain` with `seed` starts from (stream 0 of a ChaCha8
/// generator seeded with `seed`). With scGPT whole-human's own files this gives a model of the
/// released size and vocabulary for benchmarks.
pub fn write_random_checkpoint(args: &Path, genes: &Path, dir: &Path, seed: u64) -> Result<()> {
    let config = Config::from_file(args)?;
    let text = std::fs::read_to_string(genes).map_err(|e| Error::file(genes.display(), e))?;
    let mut ids: BTreeMap<String, TokenId> =
        serde_json::from_str(&text).map_err(|e| Error::file(genes.display(), e))?;
    for special in SPECIAL_TOKENS {
        if !ids.contains_key(special) {
            // After the largest id, so a vocabulary with gaps is refused below, not overwritten.
            let next = ids.values().max().map_or(0, |&m| m + 1);
            ids.insert(special.to_string(), next);
        }
    }
    let vocab = Vocab::new(ids.clone().into_iter().collect()).map_err(|reason| Error::file(genes.display(), reason))?;
    let defs = init::param_defs(&config, vocab.len());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let tensors =
        init::initial_tensors(&defs, |bound| rng.random_range(-bound..bound)).context("initialising weights")?;
    std::fs::create_dir_all(dir).map_err(|e| Error::file(dir.display(), e))?;

    write_atomically(&dir.join(ARGS_FILE), |temp| {
        std::fs::copy(args, temp)
            .map(drop)
            .map_err(|e| Error::file(args.display(), format!("copying to {}: {e}", temp.display())))
    })?;
    write_json(&dir.join(VOCAB_FILE), &ids)?;
    let named: HashMap<&str, _> = defs.iter().map(|d| d.name.as_str()).zip(tensors).collect();
    write_atomically(&dir.join(SAFETENSORS_FILE), |temp| {
        candle_core::safetensors::save(&named, temp).map_err(|e| Error::file(temp.display(), e))
    })
}

/// Every tensor of `dir/model.safetensors` by name, flattened, in f32.
pub fn weight_values(dir: &Path) -> HashMap<String, Vec<f32>> {
    candle_core::safetensors::load(dir.join(SAFETENSORS_FILE), &Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect()
}

/// The JSON file at `path`.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}
