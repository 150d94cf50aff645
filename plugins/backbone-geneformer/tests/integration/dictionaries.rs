//! Geneformer V1's real dictionaries: the `.pkl` files as Geneformer ships them (numpy scalar
//! values) read to exactly what their JSON conversions hold.

use std::collections::HashMap;

use crate::common::real_dictionaries_dir;
use ugrn_backbone_geneformer::pickle::{self, Value};

fn pickled(name: &str) -> HashMap<String, Value> {
    let path = real_dictionaries_dir().join(format!("{name}.pkl"));
    let Value::Dict(entries) = pickle::loads(&std::fs::read(&path).unwrap()).unwrap() else {
        panic!("{} is not a dict", path.display());
    };
    entries
        .into_iter()
        .map(|(k, v)| match k {
            Value::Str(k) => (k, v),
            other => panic!("key {other}"),
        })
        .collect()
}

fn json(name: &str) -> serde_json::Map<String, serde_json::Value> {
    let path = real_dictionaries_dir().join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn pickles_match_their_json_conversions() {
    for name in ["token_dictionary", "gene_median_dictionary", "gene_name_id_dict"] {
        let (p, j) = (pickled(name), json(name));
        assert_eq!(p.len(), j.len(), "{name}");
        for (key, expected) in &j {
            let got = p.get(key).unwrap_or_else(|| panic!("{name}: {key} missing from the pickle"));
            let same = match (got, expected) {
                (Value::Int(i), serde_json::Value::Number(n)) => n.as_i64() == Some(*i),
                // JSON holds the shortest decimal that round-trips, so equality is exact.
                (Value::Float(x), serde_json::Value::Number(n)) => n.as_f64() == Some(*x),
                (Value::Str(s), serde_json::Value::String(e)) => s == e,
                _ => false,
            };
            assert!(same, "{name}: {key} is {got} in the pickle, {expected} in JSON");
        }
    }
    assert_eq!(pickled("token_dictionary")["<mask>"], Value::Int(1));
    assert_eq!(pickled("token_dictionary")["ENSG00000000003"], Value::Int(2));
    assert_eq!(pickled("gene_name_id_dict")["MT-TF"], Value::Str("ENSG00000210049".into()));
}
