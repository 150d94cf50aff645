//! A request's genes resolved against the model's vocabulary, and pairs grouped by source.
use std::collections::HashMap;

use ugrn_sdk::{Error, ModelOracle, Pair, ProbeRequest, Result, TokenId};

/// The rows of one source, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceGroup {
    pub source: usize,
    pub rows: Vec<usize>,
}

/// Pairs grouped by source, sources in order of first appearance.
pub fn group_by_source(pairs: &[Pair]) -> Vec<SourceGroup> {
    let mut index: HashMap<usize, usize> = HashMap::new();
    let mut groups: Vec<SourceGroup> = Vec::new();
    for (row, pair) in pairs.iter().enumerate() {
        let g = *index.entry(pair.source).or_insert_with(|| {
            groups.push(SourceGroup { source: pair.source, rows: Vec::new() });
            groups.len() - 1
        });
        groups[g].rows.push(row);
    }
    groups
}

/// The context (dataset genes in the vocabulary, in dataset order) and each pair's positions in it.
pub(crate) struct GeneResolution {
    pub(crate) tokens: Vec<TokenId>,
    pub(crate) genes: Vec<usize>,
    pub(crate) pairs: Vec<(usize, usize)>,
}

pub(crate) fn resolve(request: &ProbeRequest<'_>, oracle: &dyn ModelOracle) -> Result<GeneResolution> {
    let dataset = &request.dataset;
    let ids = oracle.token_ids(dataset.genes);
    if ids.len() != dataset.genes.len() {
        return Err(Error::compute(format!(
            "the oracle gave {} token ids for the {} genes of dataset `{}`",
            ids.len(),
            dataset.genes.len(),
            dataset.name
        )));
    }
    let mut position = vec![None; ids.len()];
    let mut tokens = Vec::new();
    let mut genes = Vec::new();
    for (gene, id) in ids.iter().enumerate() {
        if let Some(id) = id {
            position[gene] = Some(tokens.len());
            tokens.push(*id);
            genes.push(gene);
        }
    }
    let locate = |row: usize, gene: usize| -> Result<usize> {
        let Some(symbol) = dataset.genes.get(gene) else {
            return Err(Error::invalid(format!(
                "pair {row} names gene {gene}, but dataset `{}` has {} genes",
                dataset.name,
                dataset.genes.len()
            )));
        };
        position[gene].ok_or_else(|| {
            Error::invalid(format!(
                "gene `{symbol}` (pair {row}) of dataset `{}` is not in the {} vocabulary",
                dataset.name,
                oracle.info().family
            ))
        })
    };
    let pairs = request
        .pairs
        .iter()
        .enumerate()
        .map(|(row, p)| Ok((locate(row, p.source)?, locate(row, p.target)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(GeneResolution { tokens, genes, pairs })
}

/// The (source, target) tokens of every pair, checking that both genes are in the vocabulary.
pub fn pair_tokens(request: &ProbeRequest<'_>, oracle: &dyn ModelOracle) -> Result<Vec<(TokenId, TokenId)>> {
    let r = resolve(request, oracle)?;
    Ok(r.pairs.iter().map(|&(s, t)| (r.tokens[s], r.tokens[t])).collect())
}
