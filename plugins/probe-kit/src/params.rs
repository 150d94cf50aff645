//! Probe parameters every counterfactual probe shares: the context and input values.
use ugrn_sdk::{Error, ParamSpec, Params, Result};

/// Which genes a probe's cells hold besides the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeContext {
    /// The source and the target only (the backbone adds its special tokens).
    Pair,
    /// Every gene of the dataset that is in the vocabulary.
    Dataset,
}

impl ProbeContext {
    /// The parameter's name in probe tables.
    pub const PARAM: &'static str = "context";

    pub fn as_str(self) -> &'static str {
        match self {
            ProbeContext::Pair => "pair",
            ProbeContext::Dataset => "dataset",
        }
    }

    /// The `context` parameter with `default`.
    pub fn param_spec(default: ProbeContext) -> ParamSpec {
        ParamSpec::choice(
            Self::PARAM,
            &["dataset", "pair"],
            default.as_str(),
            "genes in each cell: `dataset` = every dataset gene in the vocabulary (the paper's \
             shared context; one set of cells per source serves all its targets), `pair` = the \
             source and the target only (much cheaper, but the model sees a two-gene cell)",
        )
    }

    pub fn from_params(params: &Params) -> Result<Self> {
        match params.str(Self::PARAM)? {
            "dataset" => Ok(ProbeContext::Dataset),
            "pair" => Ok(ProbeContext::Pair),
            other => Err(Error::param(Self::PARAM, format!("{other:?} is not one of dataset, pair"))),
        }
    }
}

/// A finite number parameter, as an input value.
pub fn value_param(params: &Params, key: &str) -> Result<f32> {
    let x = params.f64(key)?;
    if !x.is_finite() {
        return Err(Error::param(key, format!("expected a finite number, got {x}")));
    }
    Ok(x as f32)
}

/// A non-empty list of distinct finite numbers (each names a feature column, so no repeats).
pub fn value_list_param(params: &Params, key: &str) -> Result<Vec<f32>> {
    let xs = params.f64_list(key)?;
    if xs.is_empty() {
        return Err(Error::param(key, "expected at least one value"));
    }
    for (i, &x) in xs.iter().enumerate() {
        if !x.is_finite() {
            return Err(Error::param(key, format!("expected finite numbers, got {x}")));
        }
        if xs[..i].contains(&x) {
            return Err(Error::param(key, format!("{x} is listed twice")));
        }
    }
    Ok(xs.into_iter().map(|x| x as f32).collect())
}
