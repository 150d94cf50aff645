//! Probe parameters every counterfactual probe shares: the context and input values.
//!
//! Input values are in the backbone's units (scGPT: bins 0–50; Geneformer: embedding scales),
//! so a value parameter left at [`FROM_MODEL`](ugrn_sdk::FROM_MODEL) is read from the model's
//! [`ModelInfo`]: its default background, or a spread over its input range.
use ugrn_sdk::{Error, ModelInfo, ParamSpec, Params, Result};

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

/// The bound of any input value a probe parameter gives: far past every backbone's range, so that
/// a typo or an overflow is refused by `ugrn check` rather than fed to the model.
pub const VALUE_BOUND: f64 = 1e9;

/// Input values spread over a model's range: `value_min + (value_max − value_min) · n / denominator`
/// for each numerator n, so that a range as wide as the denominator gives the numerators exactly
/// (scGPT's 50 bins with denominator 50).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RangeSpread {
    pub numerators: &'static [f64],
    pub denominator: f64,
}

impl RangeSpread {
    /// The values over `info`'s input range, refused when the backbone declares no finite range.
    pub fn values(&self, info: &ModelInfo) -> Result<Vec<f32>> {
        let (lo, hi) = (info.value_min as f64, info.value_max as f64);
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(Error::invalid(format!(
                "the {} model declares the input range {lo}..{hi}, so no default values can be spread over it: \
                 give the values",
                info.family
            )));
        }
        Ok(self.numerators.iter().map(|n| (lo + (hi - lo) * n / self.denominator) as f32).collect())
    }

    /// The values over scGPT's bins 0–50, for documentation.
    pub fn on_scgpt_bins(&self) -> String {
        let values: Vec<String> = self.numerators.iter().map(|n| (50.0 * n / self.denominator).to_string()).collect();
        values.join(", ")
    }
}

/// A finite number parameter, as an input value; [`FROM_MODEL`](ugrn_sdk::FROM_MODEL) is the
/// model's default background.
pub fn value_param(params: &Params, key: &str, info: &ModelInfo) -> Result<f32> {
    if params.is_from_model(key) {
        let b = info.default_background;
        if !b.is_finite() {
            return Err(Error::invalid(format!("the {} model declares a default background of {b}", info.family)));
        }
        return Ok(b);
    }
    input_value(key, params.f64(key)?)
}

/// `x` as the model's f32 input, within [`VALUE_BOUND`]: also checked here, not only by the
/// declared range, because a component's ranges do not cross WIT 0.1.0.
fn input_value(key: &str, x: f64) -> Result<f32> {
    // NaN is in no range.
    if x.is_nan() || x.abs() > VALUE_BOUND {
        let shown = if x.abs() < 1e16 { x.to_string() } else { format!("{x:e}") };
        return Err(Error::param(key, format!("{shown} is outside -{VALUE_BOUND}..={VALUE_BOUND}")));
    }
    Ok(x as f32)
}

/// A non-empty list of distinct finite numbers (each names a feature column, so no repeats
/// once rounded to the model's f32); [`FROM_MODEL`](ugrn_sdk::FROM_MODEL) is `spread` over the
/// model's input range.
pub fn value_list_param(params: &Params, key: &str, info: &ModelInfo, spread: &RangeSpread) -> Result<Vec<f32>> {
    if params.is_from_model(key) {
        return spread.values(info);
    }
    let xs = params.f64_list(key)?;
    if xs.is_empty() {
        return Err(Error::param(key, "expected at least one value"));
    }
    let mut values: Vec<f32> = Vec::with_capacity(xs.len());
    for &x in &xs {
        let v = input_value(key, x)?;
        if values.contains(&v) {
            return Err(Error::param(key, format!("{v} is listed twice (as the model's f32 input)")));
        }
        values.push(v);
    }
    Ok(values)
}
