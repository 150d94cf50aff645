//! Exact derivatives: forward-mode tangents against central finite differences (f64), and
//! candle's reverse-mode autograd through the whole model against finite differences.

use crate::common::*;
use candle_core::{DType, Device, Tensor, Var};
use ugrn_backbone_scgpt::{Checkpoint, Config, ScGptModel, WeightFile};

fn small_config(pre_norm: bool) -> Config {
    let mut cfg = Config::from_json(r#"{"embsize": 16, "nheads": 4, "d_hid": 24, "nlayers": 3, "MVC": true}"#).unwrap();
    cfg.pre_norm = pre_norm;
    cfg
}

/// Random cells: `<cls>` (value 0) then `genes` distinct random genes at random values.
fn random_cells(model: &ScGptModel, cells: usize, genes: usize, rng: &mut Rng) -> (Tensor, Tensor) {
    let gene_count = model.vocab.len() - 3;
    let (mut ids, mut values) = (Vec::new(), Vec::new());
    for _ in 0..cells {
        ids.push(model.cls_id());
        values.push(0.0);
        let mut picked: Vec<u32> = Vec::new();
        while picked.len() < genes {
            let g = rng.below(gene_count) as u32;
            if !picked.contains(&g) {
                picked.push(g);
            }
        }
        ids.extend(picked);
        // Mostly low bins, where the readout still moves with the value (the value encoder's
        // LayerNorm flattens its response at high values), and some high ones.
        values.extend((0..genes).map(|j| if j % 4 == 3 { 10.0 + 40.0 * rng.uniform() } else { 6.0 * rng.uniform() }));
    }
    let ids = Tensor::from_vec(ids, (cells, genes + 1), &Device::Cpu).unwrap();
    let values = Tensor::from_vec(values, (cells, genes + 1), &Device::Cpu).unwrap();
    (ids, values)
}

/// Forward-mode derivative along a random direction vs a central difference of the readout.
fn check_tangent_against_fd(
    model: &ScGptModel,
    ids: &Tensor,
    values: &Tensor,
    mask: Option<&Tensor>,
    rng: &mut Rng,
    what: &str,
) {
    let (b, l) = values.dims2().unwrap();
    // One-hot sources (as the oracle uses) on some cells, a dense direction on the others.
    let mut dir = vec![0.0f64; b * l];
    for c in 0..b {
        if c % 2 == 0 {
            dir[c * l + 1 + rng.below(l - 1)] = 1.0;
        } else {
            for j in 1..l {
                dir[c * l + j] = 2.0 * rng.uniform() - 1.0;
            }
        }
    }
    if let Some(m) = mask {
        let m: Vec<u8> = m.flatten_all().unwrap().to_vec1().unwrap();
        dir.iter_mut().zip(m).for_each(|(d, m)| *d *= (m == 0) as u8 as f64);
    }
    let dir = Tensor::from_vec(dir, (b, l), &Device::Cpu).unwrap();
    let (readout, derivative) = model.forward_with_tangent(ids, values, &dir, mask).unwrap();
    assert_eq!(to_f64(&readout), to_f64(&model.readout(ids, values, mask).unwrap()), "{what}: primal differs");
    let h = 1e-5;
    let plus = model.readout(ids, &(values + (&dir * h).unwrap()).unwrap(), mask).unwrap();
    let minus = model.readout(ids, &(values - (&dir * h).unwrap()).unwrap(), mask).unwrap();
    let fd = to_f64(&((plus - minus).unwrap() / (2.0 * h)).unwrap());
    let exact = to_f64(&derivative);
    assert!(exact.iter().any(|x| x.abs() > 1e-5), "{what}: derivative is trivially zero");
    assert_close(what, &exact, &fd, (1e-9, 1e-6));
}

#[test]
fn tangents_match_finite_differences_random_weights() {
    let mut rng = Rng::new(7);
    for (pre_norm, pytorch_names) in [(false, false), (true, true), (false, true)] {
        let cfg = small_config(pre_norm);
        let vocab = small_vocab(40);
        let tensors = random_tensors(&cfg, vocab.len(), pytorch_names, &mut rng);
        let model = model_from_tensors(tensors, cfg, vocab, DType::F64);
        let (ids, values) = random_cells(&model, 4, 9, &mut rng);
        check_tangent_against_fd(
            &model,
            &ids,
            &values,
            None,
            &mut rng,
            &format!("random pre_norm={pre_norm} in_proj={pytorch_names}"),
        );
    }
    // A context long enough for the fused softmax kernel.
    let cfg = small_config(false);
    let vocab = small_vocab(300);
    let model = model_from_tensors(random_tensors(&cfg, vocab.len(), false, &mut rng), cfg, vocab, DType::F64);
    let (ids, values) = random_cells(&model, 2, 200, &mut rng);
    check_tangent_against_fd(&model, &ids, &values, None, &mut rng, "random, 200 genes");
}

#[test]
fn tangents_match_finite_differences_fixture_weights() {
    let mut rng = Rng::new(11);
    let ckpt = Checkpoint::open(&fixture_dir(), WeightFile::Safetensors).unwrap();
    let model = ScGptModel::from_checkpoint(&ckpt, &Device::Cpu, DType::F64).unwrap();
    let (ids, values) = random_cells(&model, 3, 12, &mut rng);
    check_tangent_against_fd(&model, &ids, &values, None, &mut rng, "fixture");

    // The fixture's padded batch: tangents stay exact with a key-padding mask.
    let cases = cases();
    let batch = &cases["batch"];
    let dims = shape(&batch["gene_ids"]);
    let ids = Tensor::from_vec(ints(&batch["gene_ids"]), (dims[0], dims[1]), &Device::Cpu).unwrap();
    let values = Tensor::from_vec(floats(&batch["values"]), (dims[0], dims[1]), &Device::Cpu).unwrap();
    let mask: Vec<u8> = batch["padding_mask"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|m| m.as_bool().unwrap() as u8))
        .collect();
    let mask = Tensor::from_vec(mask, (dims[0], dims[1]), &Device::Cpu).unwrap();
    check_tangent_against_fd(&model, &ids, &values, Some(&mask), &mut rng, "fixture padded batch");
}

/// candle's autograd through the whole model (composed LayerNorm and softmax included) gives the
/// gradient of a loss w.r.t. a parameter that finite differences give.
#[test]
fn autograd_parameter_gradient_matches_finite_differences() {
    let mut rng = Rng::new(3);
    let ckpt = Checkpoint::open(&fixture_dir(), WeightFile::Safetensors).unwrap();
    let mut tensors = fixture_tensors();
    for t in tensors.values_mut() {
        *t = t.to_dtype(DType::F64).unwrap();
    }
    let names =
        ["transformer_encoder.layers.0.self_attn.Wqkv.weight", "value_encoder.norm.weight", "encoder.enc_norm.bias"];
    let vars: Vec<Var> = names.iter().map(|n| Var::from_tensor(&tensors[*n]).unwrap()).collect();
    for (n, v) in names.iter().zip(&vars) {
        tensors.insert(n.to_string(), v.as_tensor().clone());
    }
    let model = model_from_tensors(tensors, ckpt.config.clone(), ckpt.vocab.clone(), DType::F64);
    let (ids, values) = random_cells(&model, 2, 10, &mut rng);
    let (b, l) = values.dims2().unwrap();
    let weights =
        Tensor::from_vec((0..b * l).map(|_| rng.uniform() - 0.5).collect::<Vec<f64>>(), (b, l), &Device::Cpu).unwrap();
    let loss = |m: &ScGptModel| -> Tensor {
        let out = m.forward(&ids, &values, None).unwrap();
        let mvc = out.mvc_output.unwrap();
        ((out.mlm_output * &weights).unwrap().sum_all().unwrap() + (mvc * &weights).unwrap().sum_all().unwrap())
            .unwrap()
    };
    // With `Var`s upstream the model runs its composed (differentiable) softmax; it computes
    // what the inference path computes.
    let tracked = model.forward(&ids, &values, None).unwrap().mlm_output;
    assert!(tracked.track_op());
    let plain =
        ScGptModel::from_checkpoint(&ckpt, &Device::Cpu, DType::F64).unwrap().readout(&ids, &values, None).unwrap();
    assert!(!plain.track_op());
    assert_close("composed vs fused softmax", &to_f64(&tracked), &to_f64(&plain), (1e-12, 1e-10));
    let grads = loss(&model).backward().unwrap();
    for (name, var) in names.iter().zip(&vars) {
        let grad = to_f64(grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}")));
        let original = var.as_tensor().copy().unwrap();
        let flat = to_f64(&original);
        for _ in 0..4 {
            let i = rng.below(flat.len());
            let h = 1e-5;
            let at = |delta: f64| -> f64 {
                let mut shifted = flat.clone();
                shifted[i] += delta;
                var.set(&Tensor::from_vec(shifted, original.dims(), &Device::Cpu).unwrap()).unwrap();
                loss(&model).to_scalar::<f64>().unwrap()
            };
            let fd = (at(h) - at(-h)) / (2.0 * h);
            var.set(&original).unwrap();
            assert_close(&format!("d loss / d {name}[{i}]"), &[grad[i]], &[fd], (1e-7, 1e-5));
        }
    }
}

/// In f32 on the CPU, inference takes the attention kernel, which builds no autograd graph. A
/// model whose only `Var` is the last layer's attention projection (so that layer's input is
/// not tracked) must still take the composed path there and get that weight's gradient, equal to
/// the f64 one.
#[test]
fn f32_gradient_reaches_attention_weights_whose_layer_input_is_untracked() {
    let ckpt = Checkpoint::open(&fixture_dir(), WeightFile::Safetensors).unwrap();
    let name = format!("transformer_encoder.layers.{}.self_attn.Wqkv.weight", ckpt.config.nlayers - 1);
    let gradient = |dtype: DType| -> Vec<f64> {
        let mut tensors = fixture_tensors();
        for t in tensors.values_mut() {
            *t = t.to_dtype(dtype).unwrap();
        }
        let var = Var::from_tensor(&tensors[&name]).unwrap();
        tensors.insert(name.clone(), var.as_tensor().clone());
        let model = model_from_tensors(tensors, ckpt.config.clone(), ckpt.vocab.clone(), dtype);
        let mut rng = Rng::new(5);
        let (ids, values) = random_cells(&model, 2, 10, &mut rng);
        let (b, l) = values.dims2().unwrap();
        let weights =
            Tensor::from_vec((0..b * l).map(|_| rng.uniform() - 0.5).collect::<Vec<f64>>(), (b, l), &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
        let out = model.readout(&ids, &values.to_dtype(dtype).unwrap(), None).unwrap();
        let grads = (out * weights).unwrap().sum_all().unwrap().backward().unwrap();
        to_f64(grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{dtype:?}: no gradient for {name}")))
    };
    let (single, double) = (gradient(DType::F32), gradient(DType::F64));
    assert!(double.iter().any(|g| g.abs() > 1e-6), "the f64 gradient is zero");
    assert_close(&format!("f32 vs f64 d loss / d {name}"), &single, &double, (1e-5, 1e-3));
}
