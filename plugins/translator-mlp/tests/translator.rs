use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ugrn_sdk::{Features, LabeledFeatures, Matrix, ParamValue, Params, Translator};
use ugrn_translator_mlp::{MlpState, MlpTranslator};

fn params(given: &[(&str, ParamValue)]) -> Params {
    let given: BTreeMap<String, ParamValue> = given.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    Params::resolve(&MlpTranslator.describe().params, given).unwrap()
}

fn features(rows: &[Vec<f32>]) -> Features {
    let cols = rows.first().map_or(0, Vec::len);
    let names = (0..cols).map(|c| format!("f{c}")).collect();
    Features::new(names, Matrix::new(rows.len(), cols, rows.concat()).unwrap()).unwrap()
}

fn labeled(rows: &[Vec<f32>], labels: &[bool]) -> LabeledFeatures {
    LabeledFeatures { features: features(rows), labels: labels.to_vec() }
}

/// Two Gaussian blobs, unit variance around (−2, −2) and (2, 2), half of each class; the
/// second feature is then scaled and shifted far from zero so that only a standardising
/// translator trains well on it.
fn blobs(n: usize, seed: u64) -> LabeledFeatures {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut normal = || {
        // Box–Muller.
        let (u, v): (f32, f32) = (rng.random_range(f32::EPSILON..1.0), rng.random());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    };
    let mut rows = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let positive = i % 2 == 0;
        let centre = if positive { 2.0 } else { -2.0 };
        rows.push(vec![centre + normal(), (centre + normal()) * 1000.0 + 5000.0]);
        labels.push(positive);
    }
    labeled(&rows, &labels)
}

fn log_number(line: &str, key: &str) -> f64 {
    let rest = &line[line.find(key).unwrap_or_else(|| panic!("`{key}` not in {line:?}")) + key.len()..];
    rest.trim_start().split([',', ' ']).next().unwrap().parse().unwrap()
}

#[test]
fn learns_separable_blobs() {
    let (train, validation) = (blobs(400, 1), blobs(200, 2));
    let p = params(&[]);
    let fitted = MlpTranslator.fit(&p, &train, &validation).unwrap();
    assert_eq!(fitted.log[0], "MLP 2-64-32-1, 400 training rows (200 positive), 200 validation rows (100 positive)");
    let logits = MlpTranslator.predict(&p, &fitted.state, &validation.features).unwrap();
    let correct = logits.iter().zip(&validation.labels).filter(|&(&z, &l)| (z > 0.0) == l).count();
    let accuracy = correct as f64 / validation.labels.len() as f64;
    assert!(accuracy > 0.95, "validation accuracy {accuracy}; log {:?}", fitted.log);
}

#[test]
fn early_stopping_keeps_the_best_epoch() {
    // Labels independent of the features: validation BCE soon stops improving.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut noise = |n: usize| {
        let rows: Vec<Vec<f32>> = (0..n).map(|_| vec![rng.random(), rng.random(), rng.random()]).collect();
        let labels: Vec<bool> = (0..n).map(|_| rng.random()).collect();
        labeled(&rows, &labels)
    };
    let (train, validation) = (noise(300), noise(300));
    let p = params(&[("patience", ParamValue::Int(5)), ("learning_rate", ParamValue::Float(0.01))]);
    let fitted = MlpTranslator.fit(&p, &train, &validation).unwrap();
    let (run, best) = (log_number(&fitted.log[1], "epochs run"), log_number(&fitted.log[1], "best epoch"));
    assert_eq!(run - best, 5.0, "{:?}", fitted.log);
    assert!(run < 200.0, "{:?}", fitted.log);
    assert_eq!(fitted.log[2], "stopped early: no lower validation BCE in 5 epochs; kept the best epoch's weights");

    // The state holds the best epoch's weights: their validation BCE is the logged best.
    let logits = MlpTranslator.predict(&p, &fitted.state, &validation.features).unwrap();
    let bce: f64 = logits
        .iter()
        .zip(&validation.labels)
        .map(|(&z, &y)| {
            let z = f64::from(z);
            z.max(0.0) - z * f64::from(u8::from(y)) + (-z.abs()).exp().ln_1p()
        })
        .sum::<f64>()
        / logits.len() as f64;
    let logged = log_number(&fitted.log[1], "best validation BCE");
    assert!((bce - logged).abs() < 1e-4, "recomputed {bce}, logged {logged}");
}

#[test]
fn same_seed_same_logits_other_seed_other_logits() {
    let (train, validation) = (blobs(200, 3), blobs(100, 4));
    let p = params(&[("epochs", ParamValue::Int(30)), ("batch_size", ParamValue::Int(32))]);
    let a = MlpTranslator.fit(&p, &train, &validation).unwrap();
    let b = MlpTranslator.fit(&p, &train, &validation).unwrap();
    assert_eq!(a, b, "state bytes and log must repeat exactly");
    let la = MlpTranslator.predict(&p, &a.state, &validation.features).unwrap();
    let lb = MlpTranslator.predict(&p, &b.state, &validation.features).unwrap();
    assert_eq!(la.iter().map(|z| z.to_bits()).collect::<Vec<_>>(), lb.iter().map(|z| z.to_bits()).collect::<Vec<_>>());

    let p1 =
        params(&[("epochs", ParamValue::Int(30)), ("batch_size", ParamValue::Int(32)), ("seed", ParamValue::Int(1))]);
    let c = MlpTranslator.fit(&p1, &train, &validation).unwrap();
    let lc = MlpTranslator.predict(&p1, &c.state, &validation.features).unwrap();
    assert_ne!(la, lc);
}

#[test]
fn state_is_a_safetensors_file_and_round_trips_through_disk() {
    let (train, validation) = (blobs(100, 5), blobs(50, 6));
    let p = params(&[("epochs", ParamValue::Int(10)), ("hidden", ParamValue::List(vec![ParamValue::Int(8)]))]);
    let fitted = MlpTranslator.fit(&p, &train, &validation).unwrap();

    let st = safetensors::SafeTensors::deserialize(&fitted.state).unwrap();
    let mut names = st.names();
    names.sort();
    assert_eq!(
        names,
        ["layer_sizes", "layers.0.bias", "layers.0.weight", "layers.1.bias", "layers.1.weight", "mean", "std"]
    );
    assert_eq!(st.tensor("layers.0.weight").unwrap().shape(), [8, 2]);
    assert_eq!(st.tensor("layers.1.weight").unwrap().shape(), [1, 8]);

    let state = MlpState::from_bytes(&fitted.state).unwrap();
    assert_eq!(state.layer_sizes(), [2, 8, 1]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("translator.safetensors");
    state.save(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), fitted.state);
    let loaded = MlpState::load(&path).unwrap();
    assert_eq!(loaded, state);
    let direct = MlpTranslator.predict(&p, &fitted.state, &validation.features).unwrap();
    assert_eq!(loaded.logits(&validation.features).unwrap(), direct);
}

#[test]
fn standardisation_uses_training_statistics_only() {
    // Column 0: 1, 2, 3, 4 → mean 2.5, population std √1.25. Column 1 constant 7 → std 1.
    let train = labeled(&[vec![1.0, 7.0], vec![2.0, 7.0], vec![3.0, 7.0], vec![4.0, 7.0]], &[false, true, false, true]);
    let shifted = labeled(&[vec![101.0, 50.0], vec![102.0, 60.0], vec![103.0, 70.0]], &[false, true, true]);
    let p = params(&[("epochs", ParamValue::Int(2))]);
    let fitted = MlpTranslator.fit(&p, &train, &shifted).unwrap();
    let state = MlpState::from_bytes(&fitted.state).unwrap();
    assert_eq!(state.mean(), [2.5, 7.0]);
    assert_eq!(state.std(), [1.25f32.sqrt(), 1.0]);
}

#[test]
fn empty_validation_trains_every_epoch() {
    let train = blobs(60, 8);
    let empty = LabeledFeatures { features: features(&[]), labels: Vec::new() };
    let p = params(&[("epochs", ParamValue::Int(7)), ("patience", ParamValue::Int(1))]);
    let fitted = MlpTranslator.fit(&p, &train, &empty).unwrap();
    assert_eq!(fitted.log[0], "MLP 2-64-32-1, 60 training rows (30 positive), 0 validation rows (0 positive)");
    assert!(
        fitted.log[1]
            .starts_with("no validation set: trained all 7 epochs without early stopping, last-epoch training BCE "),
        "{:?}",
        fitted.log
    );
    assert_eq!(fitted.log.len(), 2);
}

#[test]
fn column_count_mismatch_names_both_counts() {
    let (train, validation) = (blobs(40, 9), blobs(20, 10));
    let p = params(&[("epochs", ParamValue::Int(1))]);
    let fitted = MlpTranslator.fit(&p, &train, &validation).unwrap();
    let wide = features(&[vec![0.0, 1.0, 2.0]]);
    let err = MlpTranslator.predict(&p, &fitted.state, &wide).unwrap_err();
    assert_eq!(err.to_string(), "invalid input: features have 3 columns but the translator was trained on 2");

    let wide_validation = labeled(&[vec![0.0, 1.0, 2.0]], &[true]);
    let err = MlpTranslator.fit(&p, &train, &wide_validation).unwrap_err();
    assert_eq!(err.to_string(), "invalid input: validation features have 3 columns but training features have 2");
}

#[test]
fn bad_input_and_parameters_are_named() {
    let train = labeled(&[vec![1.0, 2.0], vec![3.0, f32::NAN]], &[true, false]);
    let empty = LabeledFeatures { features: features(&[]), labels: Vec::new() };
    let err = MlpTranslator.fit(&params(&[]), &train, &empty).unwrap_err();
    assert_eq!(err.to_string(), "invalid input: training features: row 1, column `f1` is NaN");

    let short = labeled(&[vec![1.0], vec![2.0]], &[true]);
    let err = MlpTranslator.fit(&params(&[]), &short, &empty).unwrap_err();
    assert_eq!(err.to_string(), "invalid input: training set: 1 labels for 2 feature rows");

    // Parameters out of their declared ranges are refused when resolved, as `ugrn check` does.
    let spec = MlpTranslator.describe().params;
    let refused = |key: &str, value: ParamValue| {
        Params::resolve(&spec, BTreeMap::from([(key.to_string(), value)])).unwrap_err().to_string()
    };
    let widths = |w: &[i64]| ParamValue::List(w.iter().map(|&w| ParamValue::Int(w)).collect());
    assert_eq!(refused("hidden", widths(&[8, 0])), "parameter `hidden`: 0 is outside 1..=65536");
    assert_eq!(refused("hidden", widths(&[100_000_000_000])), "parameter `hidden`: 100000000000 is outside 1..=65536");
    assert_eq!(refused("batch_size", ParamValue::Int(-1)), "parameter `batch_size`: -1 is outside 1..=16777216");
    assert_eq!(refused("epochs", ParamValue::Int(0)), "parameter `epochs`: 0 is outside 1..=1000000");
    assert_eq!(
        refused("learning_rate", ParamValue::Float(f64::NAN)),
        "parameter `learning_rate`: NaN is outside 1e-12..=1000"
    );
    assert_eq!(
        refused("learning_rate", ParamValue::Float(-1.0)),
        "parameter `learning_rate`: -1 is outside 1e-12..=1000"
    );
    assert!(
        Params::resolve(&spec, BTreeMap::from([("hidden".to_string(), widths(&[]))])).is_ok(),
        "[] is logistic regression"
    );
}

#[test]
fn foreign_state_is_refused() {
    let x = features(&[vec![1.0, 2.0]]);
    let err = MlpTranslator.predict(&params(&[]), b"not a state", &x).unwrap_err();
    assert!(err.to_string().starts_with("invalid input: translator state is not a safetensors file: "), "{err}");
    let data = [0u8; 4];
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &data).unwrap();
    let other = safetensors::serialize([("w", view)], None).unwrap();
    let err = MlpTranslator.predict(&params(&[]), &other, &x).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: translator state: metadata `format` is None, expected \"ugrn-translator-mlp\""
    );
}

#[test]
fn hidden_widths_beyond_the_weight_bound_are_refused_before_allocating() {
    let empty = LabeledFeatures { features: features(&[]), labels: Vec::new() };
    let hidden =
        |widths: &[i64]| params(&[("hidden", ParamValue::List(widths.iter().map(|&w| ParamValue::Int(w)).collect()))]);
    // Each width is within its declared range (at most 65536); their product is not.
    let err = MlpTranslator.fit(&hidden(&[1 << 16, 1 << 16]), &blobs(4, 0), &empty).unwrap_err();
    assert_eq!(
        err.to_string(),
        "parameter `hidden`: [65536, 65536] units on 2 feature columns exceed the 268435456 weights (2^28) a \
         translator may hold"
    );
    // Few weights, but a training step of 2,000 rows through 65,536 units is 2^27 activations.
    let wide_batch =
        params(&[("hidden", ParamValue::List(vec![ParamValue::Int(1 << 16)])), ("batch_size", ParamValue::Int(2000))]);
    let err = MlpTranslator.fit(&wide_batch, &blobs(2000, 0), &empty).unwrap_err();
    assert_eq!(
        err.to_string(),
        "parameter `batch_size`: 2000 rows per step through a layer of 65536 exceed the 67108864 activations \
         (2^26) a step may hold: lower batch_size or the widths"
    );
    // The product is exactly 2^28, which with the other layers is over.
    let err = MlpTranslator.fit(&hidden(&[1 << 14, 1 << 14]), &blobs(4, 0), &empty).unwrap_err();
    assert_eq!(
        err.to_string(),
        "parameter `hidden`: [16384, 16384] units on 2 feature columns exceed the 268435456 weights (2^28) a \
         translator may hold"
    );
}

/// A state whose `layer_sizes` claims more weights than the bound is refused from its header,
/// before any tensor is read.
#[test]
fn state_declaring_too_many_weights_is_refused() {
    let x = features(&[vec![1.0, 2.0]]);
    for (sizes, shown) in [
        (vec![1i64 << 20, 1 << 10, 1], "[1048576, 1024, 1]"),
        (vec![i64::MAX, i64::MAX, 1], "[9223372036854775807, 9223372036854775807, 1]"),
    ] {
        let data: Vec<u8> = sizes.iter().flat_map(|s| s.to_le_bytes()).collect();
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![sizes.len()], &data).unwrap();
        let metadata = std::collections::HashMap::from([("format".to_string(), "ugrn-translator-mlp".to_string())]);
        let state = safetensors::serialize([("layer_sizes", view)], Some(metadata)).unwrap();
        let err = MlpTranslator.predict(&params(&[]), &state, &x).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid input: translator state: tensor `layer_sizes` is {shown}: more than the 268435456 weights \
                 (2^28) a translator may hold"
            )
        );
    }
}
