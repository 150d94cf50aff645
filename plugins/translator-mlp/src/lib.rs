//! MLP translator: pair features to regulation logits, trained with BCE.
//!
//! A small ReLU MLP on standardised features, trained with Adam on binary cross-entropy and
//! early-stopped on the validation BCE. Its state is a safetensors file ([`MlpState`]) holding
//! the weights, the training standardisation and the layer sizes, so `predict` needs nothing
//! else. Training and prediction run on the CPU and are bit-for-bit reproducible for a seed.
mod model;
mod state;
mod train;

use ugrn_sdk::{
    Features, FittedTranslator, LabeledFeatures, ParamSpec, Params, PluginInfo, PluginKind, Result, Translator,
};

pub use state::MlpState;

#[derive(Debug, Default)]
pub struct MlpTranslator;

impl Translator for MlpTranslator {
    fn describe(&self) -> PluginInfo {
        PluginInfo {
            name: "translator-mlp".into(),
            kind: PluginKind::Translator,
            version: env!("CARGO_PKG_VERSION").into(),
            description: "ReLU MLP on standardised pair features, trained with BCE and Adam, \
                          early-stopped on validation BCE"
                .into(),
            params: vec![
                // Bounds refuse nonsense before it runs (a width of 10^11 aborts on allocation),
                // far beyond any useful setting.
                ParamSpec::ints(
                    "hidden",
                    &[64, 32],
                    "hidden layer widths (1-65536 each), each followed by ReLU; [] is logistic regression",
                )
                .within(1.0, 65536.0),
                ParamSpec::float("learning_rate", 1e-3, "Adam step size").within(1e-12, 1000.0),
                ParamSpec::float("weight_decay", 0.0, "decoupled weight decay as in AdamW; 0 is plain Adam")
                    .within(0.0, 1000.0),
                ParamSpec::int("epochs", 200, "maximum number of passes over the training set").within(1.0, 1e6),
                ParamSpec::int("batch_size", 256, "training rows per Adam step").within(1.0, 16_777_216.0),
                ParamSpec::int("patience", 20, "stop after this many epochs without a lower validation BCE")
                    .within(1.0, 1e6),
                ParamSpec::int("seed", 0, "seeds weight initialisation and batch shuffling")
                    .within(0.0, u32::MAX as f64),
            ],
        }
    }

    fn fit(&self, params: &Params, train: &LabeledFeatures, validation: &LabeledFeatures) -> Result<FittedTranslator> {
        train::fit(&train::Config::from_params(params)?, train, validation)
    }

    fn predict(&self, _params: &Params, state: &[u8], features: &Features) -> Result<Vec<f32>> {
        MlpState::from_bytes(state)?.logits(features)
    }
}
