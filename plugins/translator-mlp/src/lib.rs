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
                ParamSpec::ints(
                    "hidden",
                    &[64, 32],
                    "hidden layer widths, each followed by ReLU; [] is logistic regression",
                ),
                ParamSpec::float("learning_rate", 1e-3, "Adam step size"),
                ParamSpec::float("weight_decay", 0.0, "decoupled weight decay as in AdamW; 0 is plain Adam"),
                ParamSpec::int("epochs", 200, "maximum number of passes over the training set"),
                ParamSpec::int("batch_size", 256, "training rows per Adam step"),
                ParamSpec::int("patience", 20, "stop after this many epochs without a lower validation BCE"),
                ParamSpec::int("seed", 0, "seeds weight initialisation and batch shuffling"),
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
