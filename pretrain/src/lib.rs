//! Pretraining an scGPT-architecture model from scratch on expression corpora (`ugrn pretrain`,
//! which runs this crate's `ugrn-pretrain` executable).
//!
//! The objective is scGPT's masked value prediction (`examples/pretrain.py`, "pcpt" task):
//! every cell is binned per cell into `n_bins - 1` quantile bins of its non-zero values (zeros
//! stay 0), `<cls>` (value 0) goes first, up to `max_seq_len - 1` of its expressed genes are
//! sampled, a fraction of their values is replaced by the mask value −1, and the expression
//! decoder is trained by the mean squared error on the masked positions (plus the same error of
//! the MVC decoder when `mvc` is on). Optimisation follows scGPT's script too: AdamW (Adam when
//! `weight_decay` = 0), cosine learning-rate decay after a linear warm-up over the first 10% of
//! steps, gradients clipped to norm 1. The model has no dropout (scGPT trains with 0.2): the
//! backbone's model is the inference model, which has none.
//!
//! The validation loss is set against references computed without the model on the same masked
//! values (`references`): each cell's visible mean, each gene's training mean, and per gene a
//! ridge regression on the cell's visible values, fitted on the training cells masked alike.
//!
//! Training runs on the CPU in f32 and is reproducible bit for bit for a seed: initialisation,
//! the held-out split, and each epoch's shuffling, gene sampling and masking draw from their own
//! ChaCha8 streams of the seed (`seeds`), so an epoch's draws depend only on `(seed, epoch)`.
//!
//! After every epoch the output folder is rewritten in the released layout (`files`); the
//! training state (epochs done, settings, loss history) is stored in the metadata of
//! `model.safetensors`. `resume` continues from there with the weights of the last finished
//! epoch. candle's AdamW keeps its moments private, so a resumed run restarts the optimizer
//! (zero moments, bias correction from step 1) while the learning-rate schedule continues: it
//! trains on the same data as an uninterrupted run but does not reproduce its weights exactly.
pub mod cli;
mod corpus;
mod data;
mod files;
mod objective;
mod references;
mod seeds;
mod settings;
mod trainer;

pub use corpus::{Corpus, beeline_corpora, file_corpus};
pub use files::{VALIDATION_FILE, check_output};
pub use objective::{MaskedMse, initial_model, masked_mse};
pub use references::MAX_RIDGE_GENES;
pub use settings::params;
pub use trainer::{Request, pretrain};
