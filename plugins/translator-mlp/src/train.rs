//! Training: seeded initialisation, Adam on mini-batch BCE, early stopping on validation BCE.
use candle_core::{Device, Tensor, Var};
use candle_nn::Optimizer;
use candle_nn::optim::{AdamW, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ugrn_sdk::{Error, FittedTranslator, LabeledFeatures, Matrix, Params, Result};

use crate::model::{
    MAX_ACTIVATIONS, MAX_WEIGHTS, Mlp, bce_with_logits, check_finite, compute_error, standardize, targets, weight_count,
};
use crate::state::{Layer, MlpState};

/// The resolved training parameters.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) hidden: Vec<usize>,
    pub(crate) learning_rate: f64,
    pub(crate) weight_decay: f64,
    pub(crate) epochs: usize,
    pub(crate) batch_size: usize,
    pub(crate) patience: usize,
    pub(crate) seed: u64,
}

impl Config {
    pub(crate) fn from_params(params: &Params) -> Result<Self> {
        let hidden = params.usize_list("hidden")?;
        if hidden.contains(&0) {
            return Err(Error::param("hidden", format!("layer widths must be at least 1, got {hidden:?}")));
        }
        let learning_rate = params.f64("learning_rate")?;
        if !(learning_rate.is_finite() && learning_rate > 0.0) {
            return Err(Error::param("learning_rate", format!("must be positive, got {learning_rate}")));
        }
        let weight_decay = params.f64("weight_decay")?;
        if !(weight_decay.is_finite() && weight_decay >= 0.0) {
            return Err(Error::param("weight_decay", format!("must be zero or positive, got {weight_decay}")));
        }
        let at_least_one = |key: &str| {
            let v = params.usize(key)?;
            if v == 0 { Err(Error::param(key, "must be at least 1, got 0")) } else { Ok(v) }
        };
        Ok(Config {
            hidden,
            learning_rate,
            weight_decay,
            epochs: at_least_one("epochs")?,
            batch_size: at_least_one("batch_size")?,
            patience: at_least_one("patience")?,
            seed: params.usize("seed")? as u64,
        })
    }
}

/// The epoch with the lowest validation BCE so far and a copy of its weights.
struct Best {
    epoch: usize,
    bce: f64,
    layers: Vec<Layer>,
}

pub(crate) fn fit(config: &Config, train: &LabeledFeatures, validation: &LabeledFeatures) -> Result<FittedTranslator> {
    check_labels("training set", train)?;
    check_labels("validation set", validation)?;
    let (rows, cols) = (train.features.values.rows, train.features.values.cols);
    if rows == 0 {
        return Err(Error::invalid("the training set is empty"));
    }
    if cols == 0 {
        return Err(Error::invalid("the training features have no columns"));
    }
    let has_validation = validation.features.values.rows > 0;
    if has_validation && validation.features.values.cols != cols {
        return Err(Error::invalid(format!(
            "validation features have {} columns but training features have {cols}",
            validation.features.values.cols
        )));
    }
    check_finite("training features", &train.features)?;
    check_finite("validation features", &validation.features)?;

    let (mean, std) = column_statistics(&train.features.values);
    let sizes: Vec<usize> =
        std::iter::once(cols).chain(config.hidden.iter().copied()).chain(std::iter::once(1)).collect();
    if weight_count(&sizes).is_none() {
        return Err(Error::param(
            "hidden",
            format!(
                "{:?} units on {cols} feature columns exceed the {MAX_WEIGHTS} weights (2^28) a translator may hold",
                config.hidden
            ),
        ));
    }
    let batch = config.batch_size.min(rows);
    let widest = sizes.iter().copied().max().unwrap_or(1);
    if batch.saturating_mul(widest) > MAX_ACTIVATIONS {
        return Err(Error::param(
            "batch_size",
            format!(
                "{batch} rows per step through a layer of {widest} exceed the {MAX_ACTIVATIONS} activations (2^26) \
                 a step may hold: lower batch_size or the widths"
            ),
        ));
    }
    let mut log = vec![format!(
        "MLP {}, {rows} training rows ({} positive), {} validation rows ({} positive)",
        sizes.iter().map(usize::to_string).collect::<Vec<_>>().join("-"),
        train.labels.iter().filter(|&&l| l).count(),
        validation.labels.len(),
        validation.labels.iter().filter(|&&l| l).count(),
    )];

    let x_train = standardize(&train.features.values, &mean, &std);
    let y_train = targets(&train.labels);
    // An empty validation set may come with no columns at all, so it is not standardised.
    let validation_data =
        has_validation.then(|| (standardize(&validation.features.values, &mean, &std), targets(&validation.labels)));
    let validation_data = validation_data.as_ref().map(|(x, y)| (x.as_slice(), y.as_slice()));
    let outcome = run(config, &sizes, (&x_train, &y_train), validation_data).map_err(compute_error)?;

    let layers = match outcome.best {
        Some(best) => {
            log.push(format!(
                "epochs run {}, best epoch {}, best validation BCE {:.4}",
                outcome.epochs_run, best.epoch, best.bce
            ));
            if outcome.epochs_run < config.epochs {
                log.push(format!(
                    "stopped early: no lower validation BCE in {} epochs; kept the best epoch's weights",
                    config.patience
                ));
            }
            best.layers
        }
        None => {
            log.push(format!(
                "no validation set: trained all {} epochs without early stopping, last-epoch \
                 training BCE {:.4}",
                config.epochs, outcome.last_train_bce
            ));
            outcome.last_layers
        }
    };
    let state = MlpState::new(mean, std, layers).to_bytes()?;
    Ok(FittedTranslator { state, log })
}

struct Outcome {
    epochs_run: usize,
    /// Mean mini-batch BCE over the last epoch, weighted by batch size.
    last_train_bce: f64,
    last_layers: Vec<Layer>,
    /// None without a validation set.
    best: Option<Best>,
}

fn run(
    config: &Config,
    sizes: &[usize],
    (x_train, y_train): (&[f32], &[f32]),
    validation: Option<(&[f32], &[f32])>,
) -> candle_core::Result<Outcome> {
    let dev = Device::Cpu;
    let (cols, rows) = (sizes[0], y_train.len());
    let x = Tensor::from_slice(x_train, (rows, cols), &dev)?;
    let y = Tensor::from_slice(y_train, (rows, 1), &dev)?;

    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let vars = init(sizes, &mut rng)?;
    // The tensors share storage with the Vars, so they see every optimiser update and carry
    // gradients back to them.
    let mlp = Mlp { layers: vars.iter().map(|(w, b)| (w.as_tensor().clone(), b.as_tensor().clone())).collect() };
    let mut adam = AdamW::new(
        vars.iter().flat_map(|(w, b)| [w.clone(), b.clone()]).collect(),
        ParamsAdamW { lr: config.learning_rate, weight_decay: config.weight_decay, ..ParamsAdamW::default() },
    )?;

    let mut order: Vec<u32> = (0..rows as u32).collect();
    let mut best: Option<Best> = None;
    let mut last_train_bce = f64::NAN;
    let mut epochs_run = 0;
    for epoch in 1..=config.epochs {
        epochs_run = epoch;
        order.shuffle(&mut rng);
        let mut total = 0.0;
        for batch in order.chunks(config.batch_size) {
            let index = Tensor::from_slice(batch, batch.len(), &dev)?;
            let loss =
                bce_with_logits(&mlp.forward(&x.index_select(&index, 0)?)?, &y.index_select(&index, 0)?)?.mean_all()?;
            adam.backward_step(&loss)?;
            total += f64::from(loss.to_scalar::<f32>()?) * batch.len() as f64;
        }
        last_train_bce = total / rows as f64;
        if !last_train_bce.is_finite() {
            candle_core::bail!(
                "training diverged: training BCE is {last_train_bce} in epoch {epoch}; try a lower `learning_rate`"
            );
        }
        let Some((x_valid, y_valid)) = validation else { continue };
        let bce = mlp.mean_bce(x_valid, y_valid, cols)?;
        if !bce.is_finite() {
            candle_core::bail!(
                "training diverged: validation BCE is {bce} in epoch {epoch}; try a lower `learning_rate`"
            );
        }
        if best.as_ref().is_none_or(|b| bce < b.bce) {
            best = Some(Best { epoch, bce, layers: snapshot(&mlp)? });
        } else if best.as_ref().is_some_and(|b| epoch - b.epoch >= config.patience) {
            break;
        }
    }
    Ok(Outcome { epochs_run, last_train_bce, last_layers: snapshot(&mlp)?, best })
}

/// PyTorch's `nn.Linear` initialisation, U(−1/√inputs, 1/√inputs) for weights and biases, drawn
/// from the seeded generator rather than candle's global one so that a seed fixes the model.
fn init(sizes: &[usize], rng: &mut ChaCha8Rng) -> candle_core::Result<Vec<(Var, Var)>> {
    sizes
        .windows(2)
        .map(|w| {
            let (inputs, outputs) = (w[0], w[1]);
            let bound = 1.0 / (inputs as f32).sqrt();
            let mut draw = |n: usize| (0..n).map(|_| rng.random_range(-bound..bound)).collect::<Vec<f32>>();
            let weight = Var::from_vec(draw(outputs * inputs), (outputs, inputs), &Device::Cpu)?;
            let bias = Var::from_vec(draw(outputs), outputs, &Device::Cpu)?;
            Ok((weight, bias))
        })
        .collect()
}

/// A copy of the current weights.
fn snapshot(mlp: &Mlp) -> candle_core::Result<Vec<Layer>> {
    mlp.layers
        .iter()
        .map(|(w, b)| {
            let (outputs, inputs) = w.dims2()?;
            Ok(Layer { inputs, outputs, weight: w.flatten_all()?.to_vec1()?, bias: b.to_vec1()? })
        })
        .collect()
}

/// Per-column mean and population standard deviation, accumulated in f64; a constant column
/// gets std 1 so that it standardises to zeros instead of NaN.
fn column_statistics(values: &Matrix) -> (Vec<f32>, Vec<f32>) {
    let n = values.rows as f64;
    let mut mean = vec![0.0f64; values.cols];
    for row in values.data.chunks_exact(values.cols) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0.0f64; values.cols];
    for row in values.data.chunks_exact(values.cols) {
        for ((s, &m), &v) in var.iter_mut().zip(&mean).zip(row) {
            *s += (f64::from(v) - m).powi(2);
        }
    }
    let std = var
        .iter()
        .map(|&s| {
            let sd = (s / n).sqrt() as f32;
            if sd > 0.0 { sd } else { 1.0 }
        })
        .collect();
    (mean.iter().map(|&m| m as f32).collect(), std)
}

fn check_labels(what: &str, set: &LabeledFeatures) -> Result<()> {
    let rows = set.features.values.rows;
    if set.labels.len() != rows {
        return Err(Error::invalid(format!("{what}: {} labels for {rows} feature rows", set.labels.len())));
    }
    Ok(())
}
