//! Geneformer's gene dictionaries: `token_dictionary` (Ensembl ID → token), `gene_median_dictionary`
//! (Ensembl ID → non-zero median of the gene's normalised expression over Genecorpus) and, when
//! present, `gene_name_id_dict` (symbol → Ensembl ID), each as the `.pkl` Geneformer ships or as
//! JSON.
use std::collections::HashMap;
use std::path::Path;

use ugrn_sdk::{Error, Result, TokenId};

use crate::pickle::{self, Value};

#[derive(Debug, Clone)]
pub struct GeneDictionaries {
    /// Every entry of the token dictionary, special tokens (`<pad>`, `<mask>`) included.
    tokens: HashMap<String, TokenId>,
    /// Median per token id; `None` for tokens that are not genes.
    medians: Vec<Option<f64>>,
    /// Symbol as given → Ensembl ID.
    names: HashMap<String, String>,
    /// Upper-cased symbol → Ensembl ID, for symbols spelt in another case.
    upper_names: HashMap<String, String>,
}

/// A dictionary's entries in file order, from `.pkl` or `.json` (by extension).
fn read_entries(path: &Path) -> Result<Vec<(String, Value)>> {
    let bytes = std::fs::read(path).map_err(|e| Error::file(path.display(), e))?;
    let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let entries: Vec<(Value, Value)> = if is_json {
        let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::file(path.display(), e))?;
        let serde_json::Value::Object(map) = json else {
            return Err(Error::file(path.display(), "expected a JSON object"));
        };
        map.into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => Value::Str(s),
                    serde_json::Value::Number(n) => match n.as_i64() {
                        Some(i) => Value::Int(i),
                        None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
                    },
                    other => return Err(Error::file(path.display(), format!("entry {k:?}: unexpected value {other}"))),
                };
                Ok((Value::Str(k), v))
            })
            .collect::<Result<_>>()?
    } else {
        match pickle::loads(&bytes).map_err(|e| Error::file(path.display(), e))? {
            Value::Dict(entries) => entries,
            other => return Err(Error::file(path.display(), format!("expected a pickled dict, found {other}"))),
        }
    };
    entries
        .into_iter()
        .map(|(k, v)| match k {
            Value::Str(k) => Ok((k, v)),
            other => Err(Error::file(path.display(), format!("key {other} is not a string"))),
        })
        .collect()
}

impl GeneDictionaries {
    /// Reads the dictionaries; token ids must index the model's `vocab_size` embedding rows and
    /// every gene with a median must have a token.
    pub fn load(tokens: &Path, medians: &Path, names: Option<&Path>, vocab_size: usize) -> Result<Self> {
        let token_entries = read_entries(tokens)?;
        let mut token_ids = HashMap::with_capacity(token_entries.len());
        for (key, value) in token_entries {
            let id = match value {
                Value::Int(i) if (0..vocab_size as i64).contains(&i) => i as TokenId,
                Value::Int(i) => {
                    return Err(Error::file(
                        tokens.display(),
                        format!(
                            "token id {i} of {key:?} is outside the model's vocabulary of {vocab_size} tokens (config `vocab_size`)"
                        ),
                    ));
                }
                other => {
                    return Err(Error::file(tokens.display(), format!("token of {key:?} is {other}, not an integer")));
                }
            };
            token_ids.insert(key, id);
        }
        let mut by_token = vec![None; vocab_size];
        for (key, value) in read_entries(medians)? {
            let median = match value {
                Value::Float(x) => x,
                Value::Int(i) => i as f64,
                other => {
                    return Err(Error::file(medians.display(), format!("median of {key:?} is {other}, not a number")));
                }
            };
            if !(median.is_finite() && median > 0.0) {
                return Err(Error::file(
                    medians.display(),
                    format!("median of {key:?} is {median}; it must be positive"),
                ));
            }
            let Some(&id) = token_ids.get(&key) else {
                return Err(Error::file(
                    medians.display(),
                    format!("gene {key:?} has a median but no token in {}", tokens.display()),
                ));
            };
            by_token[id as usize] = Some(median);
        }
        let mut name_ids = HashMap::new();
        if let Some(path) = names {
            for (key, value) in read_entries(path)? {
                match value {
                    Value::Str(id) => name_ids.insert(key, id),
                    other => {
                        return Err(Error::file(
                            path.display(),
                            format!("Ensembl ID of {key:?} is {other}, not a string"),
                        ));
                    }
                };
            }
        }
        let mut upper_names = HashMap::new();
        for (symbol, id) in &name_ids {
            let key = symbol.to_uppercase();
            // Where two symbols differ only in case, the one already upper-case wins.
            if *symbol == key || !name_ids.contains_key(&key) {
                upper_names.insert(key, id.clone());
            }
        }
        Ok(GeneDictionaries { tokens: token_ids, medians: by_token, names: name_ids, upper_names })
    }

    /// The token of a gene given by Ensembl ID or by symbol (exactly as written, else
    /// upper-cased); `None` unless it is a gene with a median (never `<pad>` or `<mask>`).
    pub fn token_id(&self, gene: &str) -> Option<TokenId> {
        let ensembl = if self.tokens.contains_key(gene) {
            gene
        } else {
            self.names.get(gene).or_else(|| self.upper_names.get(&gene.to_uppercase()))?.as_str()
        };
        self.tokens.get(ensembl).copied().filter(|&id| self.median(id).is_some())
    }

    /// The token of an Ensembl ID that is a gene, as the tokenizer sees it.
    pub fn gene_token(&self, ensembl_id: &str) -> Option<TokenId> {
        self.tokens.get(ensembl_id).copied().filter(|&id| self.median(id).is_some())
    }

    /// The Genecorpus median of the gene with this token.
    pub fn median(&self, token: TokenId) -> Option<f64> {
        self.medians.get(token as usize).copied().flatten()
    }

    /// Genes with a token and a median.
    pub fn genes(&self) -> usize {
        self.medians.iter().filter(|m| m.is_some()).count()
    }

    /// Entries of the symbol table (0 when there is none).
    pub fn symbols(&self) -> usize {
        self.names.len()
    }
}
