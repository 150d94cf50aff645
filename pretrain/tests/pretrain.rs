//! `ugrn pretrain` on the scGPT backbone: training on a small synthetic corpus, the written
//! checkpoint, determinism, resume, the learning check of the shipped `ugrn-mini`, the initial
//! weights against a random checkpoint's, the references `masked_mse` fits, and a model as long
//! as a dataset taking it as `dataset` context.
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use candle_core::{DType, Device};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ugrn_backbone_scgpt::testing::{read_json, weight_values, write_random_checkpoint};
use ugrn_backbone_scgpt::{Config, SPECIAL_TOKENS, ScGpt, ScGptModel, Vocab};
use ugrn_pretrain::{Corpus, Request, VALIDATION_FILE, initial_model, masked_mse};
use ugrn_probe_kit::{CellPlan, ProbeContext};
use ugrn_sdk::{
    Backbone, CellBatch, DatasetView, Expression, LoadRequest, Matrix, Pair, ParamValue, Params, ProbeRequest, Progress,
};

const GENES: usize = 20;
const CELLS: usize = 60;

/// 60 cells × 20 genes: gene `Gi` (i < 10) is expressed at a level growing with `i` times a
/// per-cell factor, gene `G(i+10)` at twice `Gi`, and every 7th value drops out to zero. So a
/// gene's bin is predictable from its identity and from its partner's value.
fn synthetic() -> (Vec<String>, Expression) {
    let genes: Vec<String> = (0..GENES).map(|i| format!("G{i}")).collect();
    let mut m = Matrix::zeros(GENES, CELLS);
    for c in 0..CELLS {
        let factor = 0.5 + (c as f32 * 0.37).sin().abs();
        for g in 0..10 {
            let a = factor * (1.0 + g as f32) * (1.0 + 0.2 * ((c * 31 + g * 17) as f32).cos());
            m.set(g, c, a);
            m.set(g + 10, c, 2.0 * a);
        }
        for g in 0..GENES {
            if (c * GENES + g) % 7 == 3 {
                m.set(g, c, 0.0);
            }
        }
    }
    (genes, Expression { cell_names: (0..CELLS).map(|c| format!("cell{c}")).collect(), values: m })
}

fn corpus(name: &str, genes: Vec<String>, expression: Expression) -> Corpus {
    Corpus { name: name.into(), source: name.into(), genes, expression }
}

/// A tiny configuration: 16 tokens per cell (so the 20 genes are sampled), one layer.
fn settings(extra: &[(&str, ParamValue)]) -> Params {
    let mut given = BTreeMap::from([
        ("embsize".to_string(), ParamValue::Int(16)),
        ("nheads".to_string(), ParamValue::Int(2)),
        ("d_hid".to_string(), ParamValue::Int(32)),
        ("nlayers".to_string(), ParamValue::Int(1)),
        ("max_seq_len".to_string(), ParamValue::Int(16)),
        ("n_bins".to_string(), ParamValue::Int(11)),
        ("epochs".to_string(), ParamValue::Int(8)),
        ("batch_size".to_string(), ParamValue::Int(8)),
        ("learning_rate".to_string(), ParamValue::Float(0.01)),
        ("validation_fraction".to_string(), ParamValue::Float(0.2)),
        ("seed".to_string(), ParamValue::Int(7)),
    ]);
    for (k, v) in extra {
        given.insert(k.to_string(), v.clone());
    }
    Params::resolve(&ugrn_pretrain::params(), given).unwrap()
}

/// Counts progress steps.
#[derive(Default)]
struct Steps {
    total: Mutex<u64>,
    done: Mutex<u64>,
}

impl Progress for Steps {
    fn set_total(&self, total: u64) {
        *self.total.lock().unwrap() = total;
    }
    fn advance(&self, done: u64) {
        *self.done.lock().unwrap() += done;
    }
}

/// The scGPT plugin's request for the checkpoint in `dir`, on the CPU.
fn load_request(dir: &Path) -> LoadRequest {
    LoadRequest {
        checkpoint: dir.to_path_buf(),
        device: "cpu".into(),
        dtype: "f32".into(),
        params: Params::defaults(&ScGpt.describe().params),
    }
}

fn train(dir: &Path, params: &Params, resume: bool) -> ugrn_sdk::Result<Vec<String>> {
    let (genes, expression) = synthetic();
    let corpora = [corpus("synthetic", genes, expression)];
    ugrn_pretrain::pretrain(&Request { params, corpora: &corpora, output: dir, resume }, &ugrn_sdk::NoProgress)
}

/// `(epoch, train loss, validation loss)` of every "epoch k/N: …" log line.
fn epoch_losses(log: &[String]) -> Vec<(usize, f64, f64)> {
    log.iter()
        .filter_map(|l| {
            let rest = l.strip_prefix("epoch ")?;
            let (epoch, rest) = rest.split_once('/')?;
            let train = rest.split("train loss ").nth(1)?.split(',').next()?.parse().ok()?;
            let validation = rest.split("validation loss ").nth(1)?.split(' ').next()?.parse().ok()?;
            Some((epoch.parse().ok()?, train, validation))
        })
        .collect()
}

#[test]
fn trains_and_writes_a_loadable_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (genes, expression) = synthetic();
    let corpora = [corpus("synthetic", genes.clone(), expression)];
    let params = settings(&[]);
    let steps = Steps::default();
    let log = ugrn_pretrain::pretrain(
        &Request { params: &params, corpora: &corpora, output: dir.path(), resume: false },
        &steps,
    )
    .unwrap();

    // 48 training cells in batches of 8, 8 epochs.
    assert_eq!(*steps.total.lock().unwrap(), 48);
    assert_eq!(*steps.done.lock().unwrap(), 48);
    assert!(log[1].starts_with("cells: 48 training, 12 validation"), "{log:?}");
    assert!(
        log[2].starts_with("validation references (masked values predicted without the model): cell mean "),
        "{log:?}"
    );
    let epoch_lines: Vec<&String> = log.iter().filter(|l| l.starts_with("epoch ")).collect();
    assert!(epoch_lines.iter().all(|l| l.contains(" vs gene mean ") && l.contains(", ridge ")), "{log:?}");
    let losses = epoch_losses(&log);
    assert_eq!(losses.iter().map(|l| l.0).collect::<Vec<_>>(), (1..=8).collect::<Vec<_>>());
    let (first, last) = (losses[0], losses[7]);
    assert!(last.1 < 0.5 * first.1, "train loss {} → {}", first.1, last.1);
    assert!(last.2 < 0.5 * first.2, "validation loss {} → {}", first.2, last.2);

    // The released layout: vocabulary sorted, special tokens last.
    let vocab = read_json(&dir.path().join("vocab.json"));
    assert_eq!(vocab.as_object().unwrap().len(), GENES + 3);
    assert_eq!(vocab["G0"], 0);
    assert_eq!(vocab["G10"], 2);
    assert_eq!(
        (vocab["<pad>"].clone(), vocab["<cls>"].clone(), vocab["<eoc>"].clone()),
        (20.into(), 21.into(), 22.into())
    );
    let args = read_json(&dir.path().join("args.json"));
    assert_eq!(
        (args["embsize"].clone(), args["nlayers"].clone(), args["max_seq_len"].clone()),
        (16.into(), 1.into(), 16.into())
    );
    assert_eq!(
        (args["trained_epochs"].clone(), args["seed"].clone(), args["MVC"].clone()),
        (8.into(), 7.into(), false.into())
    );
    let held_out = read_json(&dir.path().join(VALIDATION_FILE));
    assert_eq!(held_out["cells"]["synthetic"].as_array().unwrap().len(), 12);

    // The references as logged, in args.json and in the training state: a synthetic gene's bin
    // follows its identity, so the gene means beat the cells', and its partner's, so the ridge
    // beats the gene means.
    let references = &args["validation_references"];
    let value = |key: &str| references[key].as_f64().unwrap_or_else(|| panic!("{key} in {references}"));
    let (cell_mean, gene_mean, ridge) = (value("cell_mean"), value("gene_mean"), value("ridge"));
    assert!(ridge < gene_mean && gene_mean < cell_mean, "{references}");
    assert!(
        log[2].ends_with(&format!("cell mean {cell_mean:.3}, gene mean {gene_mean:.3}, ridge {ridge:.3}")),
        "{log:?}"
    );
    assert!(epoch_lines[0].contains(&format!(" vs gene mean {gene_mean:.3}, ridge {ridge:.3} (")), "{log:?}");
    let weights = std::fs::read(dir.path().join("model.safetensors")).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&weights).unwrap();
    let state: serde_json::Value = serde_json::from_str(&header.metadata().as_ref().unwrap()["ugrn.pretrain"]).unwrap();
    assert_eq!(&state["validation_references"], references);
    assert!(!dir.path().join(".model.safetensors.tmp").exists());

    // The checkpoint loads as a model and through the plugin, unchanged.
    let model = ScGptModel::load(dir.path(), &Device::Cpu, DType::F32).unwrap();
    assert_eq!((model.config.embsize, model.layers.len(), model.vocab.len()), (16, 1, 23));
    let oracle = ScGpt.load(&load_request(dir.path())).unwrap();
    assert_eq!((oracle.info().max_context, oracle.info().vocabulary), (15, 23));
    let tokens: Vec<u32> = oracle.token_ids(&genes[..4]).into_iter().map(Option::unwrap).collect();
    let cells = CellBatch::new(tokens, Matrix::new(1, 4, vec![3.0, 5.0, 7.0, 9.0]).unwrap()).unwrap();
    let readout = oracle.readout(&cells).unwrap();
    assert!(readout.data.iter().all(|v| v.is_finite()) && readout.cols == 4);

    // Trained weights beat the seeded initial ones, and the per-cell-mean guess, on the corpus.
    let trained = masked_mse(&model, &corpora[0], &[0.25, 0.5, 0.75], 1, &[]).unwrap();
    let initial = initial_model(&model.config, &model.vocab, 7).unwrap();
    let random = masked_mse(&initial, &corpora[0], &[0.25, 0.5, 0.75], 1, &[]).unwrap();
    assert_eq!((trained.cells, trained.masked), (random.cells, random.masked));
    assert_eq!(trained.cell_mean, random.cell_mean);
    assert!(trained.model < 0.2 * random.model, "trained {trained:?}, random {random:?}");
    assert!(trained.model < trained.cell_mean, "{trained:?}");
}

/// `genes` genes × `cells` cells drawn from `seed`: gene `Gi` at its own typical level (growing
/// with i) times a random factor, so its bin tells its identity; with `paired`, the second half's
/// genes at 1.05 × the first half's, so that each partner's bin follows the other's.
fn leveled(genes: usize, cells: usize, seed: u64, paired: bool) -> (Vec<String>, Expression) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut m = Matrix::zeros(genes, cells);
    for c in 0..cells {
        for g in 0..genes {
            let level = (1.0 + g as f32) * rng.random_range(0.2f32..5.0);
            m.set(g, c, level);
        }
        if paired {
            for g in 0..genes / 2 {
                m.set(g + genes / 2, c, 1.05 * m.get(g, c));
            }
        }
    }
    let names = (0..genes).map(|g| format!("G{g}")).collect();
    (names, Expression { cell_names: (0..cells).map(|c| format!("cell{c}")).collect(), values: m })
}

/// The references `masked_mse` fits on training corpora: where genes come in pairs the ridge
/// predicts masked values far better than the gene means, where they are independent hardly.
#[test]
fn masked_mse_references_tell_regulation_from_identity() {
    let genes = 20;
    let ids: HashMap<String, u32> = (0..genes)
        .map(|g| format!("G{g}"))
        .chain(SPECIAL_TOKENS.iter().map(|s| s.to_string()))
        .enumerate()
        .map(|(i, s)| (s, i as u32))
        .collect();
    let vocab = Vocab::new(ids).unwrap();
    let config = Config::from_json(
        r#"{"embsize": 16, "nheads": 2, "d_hid": 32, "nlayers": 1, "n_bins": 11, "max_seq_len": 21}"#,
    )
    .unwrap();
    let model = initial_model(&config, &vocab, 0).unwrap();
    // A quarter of each cell masked: most masked genes' partners are visible.
    let ratios = [0.25];
    for paired in [true, false] {
        let (names, expression) = leveled(genes, 400, 1, paired);
        let training = corpus("training", names, expression);
        let (names, expression) = leveled(genes, 100, 2, paired);
        let evaluated = corpus("evaluated", names, expression);
        let r = masked_mse(&model, &evaluated, &ratios, 0, std::slice::from_ref(&training)).unwrap();
        eprintln!("paired {paired}: {r:?}");
        let (gene_mean, ridge) = (r.gene_mean.unwrap(), r.ridge.unwrap());
        assert!(gene_mean < 0.8 * r.cell_mean, "{r:?}");
        if paired {
            assert!(ridge < 0.5 * gene_mean, "{r:?}");
        } else {
            assert!((ridge - gene_mean).abs() < 0.1 * gene_mean, "{r:?}");
        }
        let without = masked_mse(&model, &evaluated, &ratios, 0, &[]).unwrap();
        assert_eq!((without.gene_mean, without.ridge), (None, None));
        assert_eq!((without.model, without.cell_mean), (r.model, r.cell_mean));
    }
}

/// A model pretrained with `max_seq_len` = genes + 1 takes every gene of the dataset as one
/// `dataset` context: the backbone's `max_context` is `max_seq_len` − 1, which the probes' cell
/// plan checks the dataset against. One token shorter, and it is tiled.
#[test]
fn a_model_one_token_longer_than_the_dataset_takes_it_as_context() {
    let (genes, expression) = synthetic();
    for (max_seq_len, fits) in [(GENES + 1, true), (GENES, false)] {
        let dir = tempfile::tempdir().unwrap();
        let params = settings(&[("max_seq_len", ParamValue::Int(max_seq_len as i64)), ("epochs", ParamValue::Int(1))]);
        train(dir.path(), &params, false).unwrap();
        assert_eq!(read_json(&dir.path().join("args.json"))["max_seq_len"], max_seq_len);
        let oracle = ScGpt.load(&load_request(dir.path())).unwrap();
        assert_eq!(oracle.info().max_context, max_seq_len - 1);

        let dataset =
            DatasetView { name: "synthetic", genes: &genes, expression: Some(&expression), expression_source: "" };
        let probe_params = Params::default();
        let request = ProbeRequest { params: &probe_params, dataset, pairs: &[Pair { source: 0, target: 10 }] };
        let plan = CellPlan::new(&request, oracle.as_ref(), ProbeContext::Dataset);
        if fits {
            let plan = plan.unwrap();
            assert_eq!(plan.context_tokens().len(), GENES);
            let values = Matrix::new(1, GENES, (0..GENES).map(|g| (1 + g % 10) as f32).collect()).unwrap();
            let readout = oracle.readout(&CellBatch::new(plan.context_tokens().to_vec(), values).unwrap()).unwrap();
            assert_eq!(readout.cols, GENES);
            assert!(readout.data.iter().all(|v| v.is_finite()));
        } else {
            // One gene short: the context is tiled into two windows.
            let tiling = plan.unwrap().tiling();
            assert_eq!((tiling.is_tiled(), tiling.windows()), (true, 2));
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_weights() {
    let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let params = settings(&[("epochs", ParamValue::Int(2))]);
    train(a.path(), &params, false).unwrap();
    train(b.path(), &params, false).unwrap();
    train(c.path(), &settings(&[("epochs", ParamValue::Int(2)), ("seed", ParamValue::Int(8))]), false).unwrap();
    let (ta, tb, tc) = (weight_values(a.path()), weight_values(b.path()), weight_values(c.path()));
    // Gene encoder 3, value encoder 6, one encoder layer 12, expression decoder 6 (no MVC).
    assert_eq!(ta.len(), 3 + 6 + 12 + 6);
    assert_eq!(ta, tb);
    assert_ne!(ta["encoder.embedding.weight"], tc["encoder.embedding.weight"]);
    assert_eq!(
        std::fs::read(a.path().join(VALIDATION_FILE)).unwrap(),
        std::fs::read(b.path().join(VALIDATION_FILE)).unwrap()
    );
}

#[test]
fn resume_continues_from_the_last_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let log = train(dir.path(), &settings(&[("epochs", ParamValue::Int(3))]), true).unwrap();
    assert!(log.iter().any(|l| l.starts_with("no training state in")), "{log:?}");
    let after_three = weight_values(dir.path());

    let log = train(dir.path(), &settings(&[("epochs", ParamValue::Int(5))]), true).unwrap();
    assert!(log.iter().any(|l| l.starts_with("resuming after epoch 3")), "{log:?}");
    assert_eq!(epoch_losses(&log).iter().map(|l| l.0).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(read_json(&dir.path().join("args.json"))["trained_epochs"], 5);
    assert_ne!(weight_values(dir.path()), after_three);

    // Reaching the target again trains nothing; other settings cannot change on resume.
    let log = train(dir.path(), &settings(&[("epochs", ParamValue::Int(5))]), true).unwrap();
    assert!(log.last().unwrap().starts_with("nothing to do"), "{log:?}");
    let err = train(dir.path(), &settings(&[("epochs", ParamValue::Int(6)), ("nlayers", ParamValue::Int(2))]), true)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("parameter `nlayers`: is 2 but "), "{err}");
    assert!(err.contains("was trained with 1"), "{err}");

    // Without `resume` the folder is trained over from scratch.
    let log = train(dir.path(), &settings(&[("epochs", ParamValue::Int(1))]), false).unwrap();
    assert_eq!(epoch_losses(&log).len(), 1);
    assert_eq!(read_json(&dir.path().join("args.json"))["trained_epochs"], 1);
}

#[test]
fn bad_settings_name_the_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("nheads", ParamValue::Int(3), "parameter `nheads`: 3 does not divide embsize = 16"),
        (
            "mask_ratio",
            ParamValue::List(vec![ParamValue::Float(1.0)]),
            "parameter `mask_ratio`: ratios must lie strictly between 0 and 1, got 1",
        ),
        ("validation_fraction", ParamValue::Float(1.0), "parameter `validation_fraction`: must be in [0, 1), got 1"),
    ];
    for (key, value, expected) in cases {
        let err = train(dir.path(), &settings(&[(key, value)]), false).unwrap_err();
        assert_eq!(err.to_string(), expected);
    }
    // Sizes out of their declared ranges are refused before training, when resolved.
    let refused = |key: &str, value: i64| {
        let given = BTreeMap::from([(key.to_string(), ParamValue::Int(value))]);
        Params::resolve(&ugrn_pretrain::params(), given).unwrap_err().to_string()
    };
    assert_eq!(refused("max_seq_len", 1), "parameter `max_seq_len`: 1 is outside 2..=1048576");
    assert_eq!(refused("embsize", 100_000_000_000), "parameter `embsize`: 100000000000 is outside 1..=65536");
    assert_eq!(refused("epochs", 0), "parameter `epochs`: 0 is outside 1..=1000000");
    assert!(!dir.path().join("model.safetensors").exists());
}

/// The shipped model's folder.
fn ugrn_mini() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ugrn-mini")
}

/// A gzipped genes × cells CSV (header: empty corner, then cell names).
fn read_matrix(path: &Path) -> (Vec<String>, Expression) {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_string(&mut text).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let cell_names: Vec<String> = reader.headers().unwrap().iter().skip(1).map(String::from).collect();
    let (mut genes, mut data) = (Vec::new(), Vec::new());
    for record in reader.records() {
        let record = record.unwrap();
        genes.push(record[0].to_string());
        data.extend(record.iter().skip(1).map(|v| v.parse::<f32>().unwrap()));
    }
    let values = Matrix::new(genes.len(), cell_names.len(), data).unwrap();
    (genes, Expression { cell_names, values })
}

/// ugrn-mini predicts masked values of cells it never trained on far better than the same
/// architecture with its initial random weights, and better than each cell's visible mean.
#[test]
fn ugrn_mini_learned_to_predict_held_out_values() {
    let dir = ugrn_mini();
    let model = ScGptModel::load(&dir, &Device::Cpu, DType::F32).unwrap();
    let held_out = read_json(&dir.join(VALIDATION_FILE));
    let args = read_json(&dir.join("args.json"));
    let ratios: Vec<f64> = args["mask_ratio"].as_array().unwrap().iter().map(|r| r.as_f64().unwrap()).collect();
    let initial = initial_model(&model.config, &model.vocab, args["seed"].as_u64().unwrap()).unwrap();

    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("heldout"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".csv.gz"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let corpus_name = path.file_name().unwrap().to_string_lossy().trim_end_matches(".csv.gz").to_string();
        let (genes, expression) = read_matrix(&path);
        // Every cell here was held out from training.
        let validation: Vec<&str> = held_out["cells"][&corpus_name]
            .as_array()
            .unwrap_or_else(|| panic!("{corpus_name} is not in {VALIDATION_FILE}"))
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        for cell in &expression.cell_names {
            assert!(validation.contains(&cell.as_str()), "{cell} of {corpus_name} was a training cell");
        }
        let cells = expression.cell_names.len();
        let corpus = corpus(&corpus_name, genes, expression);
        let trained = masked_mse(&model, &corpus, &ratios, 0, &[]).unwrap();
        let random = masked_mse(&initial, &corpus, &ratios, 0, &[]).unwrap();
        eprintln!("{corpus_name}: ugrn-mini {trained:?}, random weights {random:?}");
        assert_eq!(trained.cells, cells);
        assert!(trained.model < 0.25 * random.model, "{corpus_name}: trained {trained:?}, random {random:?}");
        assert!(trained.model < trained.cell_mean, "{corpus_name}: {trained:?}");
    }
}

/// A random checkpoint of `backbone-scgpt`'s test support holds the weights pretraining with the
/// same seed starts from.
#[test]
fn a_random_checkpoint_holds_the_initial_weights() {
    let mini = ugrn_mini();
    let dir = tempfile::tempdir().unwrap();
    write_random_checkpoint(&mini.join("args.json"), &mini.join("vocab.json"), dir.path(), 3).unwrap();
    let written = ScGptModel::load(dir.path(), &Device::Cpu, DType::F32).unwrap();
    let initial = initial_model(&written.config, &written.vocab, 3).unwrap();
    let values = |t: &candle_core::Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(values(&written.encoder.embedding), values(&initial.encoder.embedding));
    for (w, i) in written.layers.iter().zip(&initial.layers) {
        assert_eq!(values(&w.self_attn.wqkv.weight), values(&i.self_attn.wqkv.weight));
        assert_eq!(values(&w.linear2.weight), values(&i.linear2.weight));
    }
    assert_eq!(values(&written.decoder.fc[2].weight), values(&initial.decoder.fc[2].weight));
}
