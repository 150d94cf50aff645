//! `testing::write_random_checkpoint`: the released layout, seeded weights, and loading.

use std::collections::{BTreeMap, HashMap};

use candle_core::Device;
use ugrn_backbone_scgpt::ScGpt;
use ugrn_backbone_scgpt::testing::{read_json, weight_values, write_random_checkpoint};
use ugrn_sdk::{Backbone, CellBatch, LoadRequest, Matrix, Params};

#[test]
fn a_random_checkpoint_has_the_released_layout_and_loads() {
    let fixture = crate::common::fixture_dir();
    let (args, vocab) = (fixture.join("args.json"), fixture.join("vocab.json"));
    let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_random_checkpoint(&args, &vocab, a.path(), 7).unwrap();
    write_random_checkpoint(&args, &vocab, b.path(), 7).unwrap();
    write_random_checkpoint(&args, &vocab, c.path(), 8).unwrap();

    // Every tensor of the released fixture, by name and shape, and nothing else.
    let shapes = |m: HashMap<String, candle_core::Tensor>| -> BTreeMap<String, Vec<usize>> {
        m.into_iter().map(|(k, t)| (k, t.dims().to_vec())).collect()
    };
    let released = shapes(crate::common::fixture_tensors());
    let written = shapes(candle_core::safetensors::load(a.path().join("model.safetensors"), &Device::Cpu).unwrap());
    assert_eq!(written, released);
    assert_eq!(read_json(&a.path().join("vocab.json")), read_json(&vocab));
    assert_eq!(std::fs::read(a.path().join("args.json")).unwrap(), std::fs::read(&args).unwrap());

    let (ta, tb, tc) = (weight_values(a.path()), weight_values(b.path()), weight_values(c.path()));
    assert_eq!(ta, tb);
    assert_ne!(ta["encoder.embedding.weight"], tc["encoder.embedding.weight"]);
    // PyTorch's defaults: nn.Linear U(±1/√fan_in), embedding U(±0.1), norms at 1 and 0.
    let bound = 1.0 / (released["transformer_encoder.layers.0.linear1.weight"][1] as f32).sqrt();
    assert!(ta["transformer_encoder.layers.0.linear1.weight"].iter().all(|w| w.abs() <= bound));
    assert!(ta["encoder.embedding.weight"].iter().all(|w| w.abs() <= 0.1));
    assert!(ta["encoder.enc_norm.weight"].iter().all(|&w| w == 1.0));

    let load = LoadRequest {
        checkpoint: a.path().to_path_buf(),
        device: "cpu".into(),
        dtype: "f32".into(),
        params: Params::defaults(&ScGpt.describe().params),
    };
    let oracle = ScGpt.load(&load).unwrap();
    let cells = CellBatch::new(vec![0, 1, 2], Matrix::new(1, 3, vec![3.0, 5.0, 7.0]).unwrap()).unwrap();
    assert!(oracle.readout(&cells).unwrap().data.iter().all(|v| v.is_finite()));

    let missing = write_random_checkpoint(&a.path().join("nope.json"), &vocab, c.path(), 1).unwrap_err();
    assert!(missing.to_string().contains("nope.json"), "{missing}");

    // A census-style vocabulary of genes only gets the special tokens after its genes.
    let genes = a.path().join("genes.json");
    std::fs::write(&genes, r#"{"SOX2": 1, "NANOG": 0}"#).unwrap();
    write_random_checkpoint(&args, &genes, c.path(), 1).unwrap();
    let written = read_json(&c.path().join("vocab.json"));
    assert_eq!(written, serde_json::json!({"NANOG": 0, "SOX2": 1, "<pad>": 2, "<cls>": 3, "<eoc>": 4}));
    assert_eq!(weight_values(c.path())["encoder.embedding.weight"].len(), 5 * released["encoder.embedding.weight"][1]);
}
