//! `ugrn pretrain`: gathers expression corpora and asks a backbone plugin to pretrain on them.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ugrn_sdk::{Corpus, Expression, GeneSymbol, ParamValue, Params, PluginKind, PretrainRequest};

use crate::data::{BEELINE_DATASETS, BEELINE_SIZES, BeelineSource, read_expression_file};
use crate::plugin::{PluginHandle, Registry};

/// An expression matrix with its gene symbols and where it came from.
pub struct NamedCorpus {
    pub name: String,
    pub source: String,
    pub genes: Vec<GeneSymbol>,
    pub expression: Expression,
}

/// Every BEELINE dataset with an expression matrix in `roots`, each once, at the largest gene
/// subset available (the networks' files of one dataset and size hold the same rows, and the
/// TFs+500 genes are a subset of the TFs+1000 genes).
pub fn beeline_corpora(roots: &[PathBuf]) -> Vec<NamedCorpus> {
    let source = BeelineSource { roots: roots.to_vec() };
    let mut out = Vec::new();
    for dataset in BEELINE_DATASETS {
        let mut sizes = BEELINE_SIZES.to_vec();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        for size in sizes {
            let Ok(d) = source.load("STRING", dataset, size) else { continue };
            if let Some(expression) = d.expression {
                out.push(NamedCorpus {
                    name: format!("{dataset} TFs+{size}"),
                    source: d.expression_source,
                    genes: d.genes,
                    expression,
                });
                break;
            }
        }
    }
    out
}

/// A user's expression file (CSV genes × cells, or `.h5ad`).
pub fn file_corpus(path: &Path) -> anyhow::Result<NamedCorpus> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (genes, expression) = read_expression_file(path, None)?;
    Ok(NamedCorpus { name, source: path.display().to_string(), genes, expression })
}

/// Parses `key=value` settings; values are TOML (`8`, `0.5`, `true`, `[4, 8]`, `"text"`), and
/// bare words are strings.
pub fn parse_settings(settings: &[String]) -> anyhow::Result<BTreeMap<String, ParamValue>> {
    let mut out = BTreeMap::new();
    for s in settings {
        let Some((key, value)) = s.split_once('=') else {
            bail!("--set {s:?}: expected KEY=VALUE");
        };
        let key = key.trim();
        let value = value.trim();
        let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string()));
        let param = crate::workflow::toml_to_param(&parsed).map_err(|e| anyhow::anyhow!("--set {key}: {e}"))?;
        out.insert(key.to_string(), param);
    }
    Ok(out)
}

pub struct PretrainOptions {
    pub backbone: String,
    pub output: PathBuf,
    pub data_roots: Vec<PathBuf>,
    pub expression_files: Vec<PathBuf>,
    pub settings: Vec<String>,
    pub resume: bool,
    pub quiet: bool,
}

pub fn run(registry: &Registry, options: &PretrainOptions) -> anyhow::Result<Vec<String>> {
    let plugin = registry.require(&options.backbone, PluginKind::Backbone)?;
    let PluginHandle::Backbone(backbone) = &*plugin.handle else {
        bail!("plugin `{}` is not a backbone", options.backbone);
    };
    let specs = backbone.pretrain_params();
    if specs.is_empty() {
        bail!("backbone `{}` cannot pretrain", options.backbone);
    }
    let params =
        Params::resolve(&specs, parse_settings(&options.settings)?).map_err(|e| anyhow::anyhow!("--set: {e}"))?;
    let mut corpora =
        if options.expression_files.is_empty() { beeline_corpora(&options.data_roots) } else { Vec::new() };
    for f in &options.expression_files {
        corpora.push(file_corpus(f).with_context(|| format!("reading {}", f.display()))?);
    }
    if corpora.is_empty() {
        let roots: Vec<String> = options.data_roots.iter().map(|r| r.display().to_string()).collect();
        bail!("no expression matrix found in {} (pass --expression FILE)", roots.join(", "));
    }
    for c in &corpora {
        let line = format!(
            "corpus {}: {} genes × {} cells from {}",
            c.name,
            c.genes.len(),
            c.expression.values.cols,
            c.source
        );
        tracing::info!("{line}");
    }
    let views: Vec<Corpus<'_>> =
        corpora.iter().map(|c| Corpus { name: &c.name, genes: &c.genes, expression: &c.expression }).collect();
    std::fs::create_dir_all(&options.output).with_context(|| format!("creating {}", options.output.display()))?;
    let progress = crate::progress::Bar::new(options.quiet, "pretrain", "steps");
    let log = backbone
        .pretrain(
            &PretrainRequest { params: &params, corpora: &views, output: &options.output, resume: options.resume },
            &progress,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    progress.finish();
    Ok(log)
}
