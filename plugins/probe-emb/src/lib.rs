//! Emb probe: gene-embedding pair features (see `../PROBES.md`).
//!
//! The features of pair (i, j) come from the model's gene embeddings E (the oracle's
//! `gene_embeddings`, for scGPT the gene encoder's output): `E_i + E_j` (the paper's Emb
//! baseline) or `[E_i; E_j]`. No cell is run, so the context does not apply.
use std::collections::HashMap;

use ugrn_probe_kit::pair_tokens;
use ugrn_sdk::{
    Error, Features, Matrix, ModelInfo, ModelOracle, ParamSpec, Params, PluginInfo, PluginKind, Probe, ProbeRequest,
    Progress, Result, TokenId,
};

#[derive(Debug, Default)]
pub struct Emb;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Combine {
    Sum,
    Concat,
}

impl Combine {
    fn from_params(params: &Params) -> Result<Self> {
        match params.str("combine")? {
            "sum" => Ok(Combine::Sum),
            "concat" => Ok(Combine::Concat),
            other => Err(Error::param("combine", format!("{other:?} is not one of sum, concat"))),
        }
    }

    /// The feature columns for embeddings of size `d`.
    fn columns(self, d: usize) -> Vec<String> {
        let width = match self {
            Combine::Sum => d,
            Combine::Concat => 2 * d,
        };
        (0..width).map(|k| format!("emb_{k}")).collect()
    }
}

impl Probe for Emb {
    fn describe(&self) -> PluginInfo {
        PluginInfo {
            name: "probe-emb".into(),
            kind: PluginKind::Probe,
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Gene-embedding features of the source and the target from the model's gene encoder".into(),
            params: vec![ParamSpec::choice(
                "combine",
                &["sum", "concat"],
                "sum",
                "`sum` = E_i + E_j (the paper's Emb baseline; columns emb_0..emb_{d-1}), `concat` = \
                 [E_i; E_j] (columns emb_0..emb_{2d-1}, source first)",
            )],
        }
    }

    fn needs_expression(&self, _: &Params) -> bool {
        false
    }

    fn columns(&self, params: &Params, info: &ModelInfo) -> Result<Option<Vec<String>>> {
        Ok(Some(Combine::from_params(params)?.columns(info.embedding_dim)))
    }

    fn features(
        &self,
        request: &ProbeRequest<'_>,
        oracle: &dyn ModelOracle,
        progress: &dyn Progress,
    ) -> Result<Features> {
        let combine = Combine::from_params(request.params)?;
        let pairs = pair_tokens(request, oracle)?;
        progress.set_total(pairs.len() as u64);
        // Each distinct gene is embedded once, however many pairs it is in.
        let mut index: HashMap<TokenId, usize> = HashMap::new();
        let mut tokens = Vec::new();
        for &(s, t) in &pairs {
            for token in [s, t] {
                index.entry(token).or_insert_with(|| {
                    tokens.push(token);
                    tokens.len() - 1
                });
            }
        }
        let d = oracle.info().embedding_dim;
        let embeddings = if tokens.is_empty() { Matrix::zeros(0, d) } else { oracle.gene_embeddings(&tokens)? };
        if embeddings.rows != tokens.len() || embeddings.cols != d {
            return Err(Error::compute(format!(
                "the oracle gave {}×{} gene embeddings for {} genes of dataset `{}` (embedding size {d})",
                embeddings.rows,
                embeddings.cols,
                tokens.len(),
                request.dataset.name
            )));
        }
        let columns = combine.columns(d);
        let mut out = Matrix::zeros(pairs.len(), columns.len());
        for (row, (s, t)) in pairs.iter().enumerate() {
            let (es, et) = (embeddings.row(index[s]), embeddings.row(index[t]));
            let dst = out.row_mut(row);
            match combine {
                Combine::Sum => {
                    for ((o, a), b) in dst.iter_mut().zip(es).zip(et) {
                        *o = a + b;
                    }
                }
                Combine::Concat => {
                    dst[..d].copy_from_slice(es);
                    dst[d..].copy_from_slice(et);
                }
            }
        }
        progress.advance(pairs.len() as u64);
        Features::new(columns, out)
    }
}
