//! `ugrn infer`: a GRN for a user's own expression data, from a translator a run saved. Every
//! TF→gene candidate among the genes the model knows (or the listed pairs) gets the saved
//! method's probe features, computed on the saved backbone, and the saved translator's logit;
//! the edges, a summary and a plot are written as one folder, atomically. Sources are scored
//! in blocks of at most `block_pairs` pairs, each written as a sorted run (`scores`) and merged
//! as a stream into the outputs, so memory does not grow with the pair count; `--shard k/N`
//! scores the blocks of one shard and `ugrn merge` combines the shards (`shard`).
mod candidates;
mod expression;
mod output;
mod scores;
mod shard;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ugrn_sdk::{ModelOracle, ParamValue, Params, PluginKind};

use std::collections::BTreeMap;

use crate::data::{Dataset, is_h5ad, read_obs_column};
use crate::plugin::Registry;
use crate::report::StagedFolder;
use crate::session::{BackboneSetup, Session};
use crate::translators::{Manifest, SavedKind, SavedMethod, folder_name};
use crate::workflow::ResolvedPlugin;
pub use candidates::{Species, TfSource};
use expression::{ExpressionInput, ExpressionUse};
pub use shard::{Shard, merge};

/// What `ugrn infer` was asked.
#[derive(Debug, Clone)]
pub struct InferOptions {
    /// A saved method's folder (`translators/<network>/<method>/` of a report).
    pub translator: PathBuf,
    /// Genes × cells CSV (plain or gzip) or cells × genes `.h5ad`.
    pub expression: PathBuf,
    /// `.h5ad` only: the `var` column holding gene symbols.
    pub gene_column: Option<String>,
    pub tfs: TfSource,
    /// The backbone checkpoint; default the one the translator was trained on.
    pub checkpoint: Option<PathBuf>,
    pub allow_other_checkpoint: bool,
    /// Overrides the probes' `context` parameter (`pair` or `dataset`).
    pub context: Option<String>,
    /// Overrides the probes' `cell` parameter: `virtual` (the paper's) or `mean` (the
    /// dataset's, or each group's, real mean cell).
    pub base: Option<String>,
    /// `.h5ad` only: one network per value of this `obs` column, from each group's mean cell.
    pub groupby: Option<String>,
    /// Write only the K best edges.
    pub top: Option<usize>,
    /// Score only these pairs (`Gene1,Gene2` CSV) instead of every TF→gene candidate.
    pub pairs: Option<PathBuf>,
    /// Also write `grn.h5ad`.
    pub h5ad: bool,
    /// Score only this shard's blocks and write them unmerged (`ugrn merge` combines them).
    pub shard: Option<Shard>,
    /// Pairs per block: the most scored at once (their features and logits in memory).
    pub block_pairs: usize,
    pub output: PathBuf,
    pub force: bool,
    pub device: String,
    pub memory_budget_mb: u64,
    pub cache: PathBuf,
    pub quiet: bool,
}

/// One translated member of the method being applied (the method itself, or an ensemble's).
struct Member {
    method: String,
    probe: ResolvedPlugin,
    translator: ResolvedPlugin,
    columns: Vec<String>,
    state: Vec<u8>,
    /// Whether its probe, with these parameters, reads the dataset's cells.
    reads_cells: bool,
    /// Whether all it reads of them is the mean cell.
    mean_only: bool,
}

/// What an inference wrote, for the command line.
#[derive(Debug)]
pub struct Inferred {
    pub folder: PathBuf,
    pub pairs: usize,
    /// The summary's first lines: what was scored and the best edges.
    pub headline: String,
}

/// Runs `ugrn infer`.
pub fn infer(registry: &Registry, options: &InferOptions) -> anyhow::Result<Inferred> {
    if options.top == Some(0) {
        bail!("--top 0: asks for no edges; give a positive K, or leave --top out for every pair");
    }
    let overrides = [("context", options.context.as_deref()), ("cell", options.base.as_deref())];
    let (saved, members) = read_method(&options.translator, registry, &overrides)?;
    if options.groupby.is_some() {
        for m in &members {
            if !m.reads_cells {
                bail!(
                    "--groupby: {} of {} does not read the cells (with these parameters), so every group \
                     would get the same network; add --base mean, or use a method whose probe reads them",
                    m.probe.plugin,
                    m.method
                );
            }
        }
    }
    let manifest = &saved.manifest;
    let backbone = manifest.backbone.plugin.resolve(
        registry,
        PluginKind::Backbone,
        &format!("{}: backbone", options.translator.display()),
    )?;
    let (genes, input) = ExpressionInput::open(&options.expression, options.gene_column.as_deref())?;
    let tfs = candidates::match_tfs(&options.tfs, &genes)?;
    let groups = match &options.groupby {
        Some(column) => Some(groups(&options.expression, column, input.cells())?),
        None => None,
    };
    let dataset = Dataset {
        name: dataset_name(&options.expression),
        network: "none".into(),
        size: None,
        genes,
        tfs: tfs.indices.clone(),
        edges: Vec::new(),
        expression: None,
        expression_source: options.expression.display().to_string(),
        notes: Vec::new(),
    };
    refuse_output_over_inputs(options)?;
    let staged = StagedFolder::begin(&options.output, options.force)?;

    let checkpoint = options.checkpoint.clone().unwrap_or_else(|| manifest.backbone.checkpoint.clone());
    let setup = BackboneSetup {
        backbone: &backbone,
        checkpoint: &checkpoint,
        device: &options.device,
        dtype: &manifest.backbone.dtype,
        memory_budget_mb: options.memory_budget_mb,
        cache: options.cache.clone(),
    };
    let mut session = Session::start(registry, &setup, options.quiet)?;
    let found_sha = session.oracle.info().checkpoint_sha256.clone();
    let other_checkpoint = found_sha != manifest.backbone.checkpoint_sha256;
    if other_checkpoint && !options.allow_other_checkpoint {
        bail!(
            "{}: checkpoint sha256 {found_sha}, but the translator in {} was trained on features of \
             {} (sha256 {}); pass --allow-other-checkpoint to apply it anyway",
            checkpoint.display(),
            options.translator.display(),
            manifest.backbone.checkpoint.display(),
            manifest.backbone.checkpoint_sha256
        );
    }

    let tokens = session.oracle.token_ids(&dataset.genes);
    let known = |g: usize| tokens[g].is_some();
    let candidates = match &options.pairs {
        Some(file) => candidates::listed(file, &dataset, known)?,
        None => candidates::all(&dataset, known),
    };
    if candidates.is_empty() {
        bail!(
            "no pair to score: {} of the {} matched TFs and {} of the {} genes are in the model's vocabulary",
            tfs.indices.iter().filter(|&&t| known(t)).count(),
            tfs.indices.len(),
            (0..dataset.genes.len()).filter(|&g| known(g)).count(),
            dataset.genes.len()
        );
    }
    let pairs = candidates.count();
    if options.h5ad && options.top.map_or(pairs, |k| k.min(pairs)) > output::MAX_H5AD_EDGES {
        bail!(
            "--h5ad: grn.h5ad is assembled in memory and holds at most {} edges, but {pairs} would be written; \
             add --top K (K ≤ {0}), or leave --h5ad out (edges.tsv streams any number)",
            output::MAX_H5AD_EDGES
        );
    }

    let known: Vec<bool> = (0..dataset.genes.len()).map(known).collect();
    let other_checkpoint = other_checkpoint.then_some(found_sha);
    let inference = Inference {
        options,
        manifest,
        members: &members,
        tfs: &tfs,
        candidates: &candidates,
        known,
        checkpoint: &checkpoint,
        other_checkpoint,
    };
    let default_background = session.oracle.info().default_background;
    // Each part is one network: the dataset's, or each group's from its own cells. The probes
    // get of each part's cells only what they read, of the genes the model knows.
    let whole: Vec<usize> = (0..input.cells()).collect();
    let sets: Vec<&[usize]> = match &groups {
        None => vec![&whole],
        Some(groups) => groups.values().map(Vec::as_slice).collect(),
    };
    let usage = ExpressionUse::of(members.iter().map(|m| (m.reads_cells, m.mean_only)));
    let read_genes: Vec<usize> = (0..dataset.genes.len()).filter(|&g| inference.known[g]).collect();
    let mut expressions = input.for_probes(usage, &read_genes, &sets)?.into_iter();
    let mut parts: Vec<(output::Part, Dataset)> = Vec::new();
    let mut index = None;
    match &groups {
        None => {
            let base = base_description(&members, "the dataset's", default_background);
            let data = Dataset { expression: expressions.next().flatten(), ..dataset.clone() };
            parts.push((output::part(&inference, &data, input.cells(), &base, String::new(), None), data));
        }
        Some(groups) => {
            let mut tsv = String::from("group\tcells\tfolder\n");
            for ((group, group_cells), expression) in groups.iter().zip(expressions) {
                let subset = Dataset { name: format!("{} / {group}", dataset.name), expression, ..dataset.clone() };
                let folder = format!("groups/{}", folder_name(group));
                let n = group_cells.len();
                let base = base_description(&members, &format!("group `{group}`'s ({n} cells)"), default_background);
                let label = Some(format!("{group} ({n} cells)"));
                tsv.push_str(&format!("{group}\t{n}\t{folder}\n"));
                parts.push((output::part(&inference, &subset, n, &base, folder, label), subset));
            }
            index = Some(tsv);
        }
    }

    let blocks = candidates.blocks(options.block_pairs.max(1));
    let shard = options.shard.unwrap_or(Shard::WHOLE);
    let own = shard.blocks(blocks.len());
    let scores_dir = staged.path().join("scores");
    for (part, data) in &parts {
        let dir = scores_dir.join(&part.folder);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let ranking = scores::Ranking::new(&data.genes)?;
        for b in own.clone() {
            let block_pairs = candidates.pairs_of(blocks[b].clone());
            let logits = score(&mut session, registry, &members, data, &block_pairs)?;
            let mut scored: Vec<scores::Scored> = block_pairs
                .iter()
                .zip(logits)
                .map(|(p, logit)| scores::Scored { source: p.source as u32, target: p.target as u32, logit })
                .collect();
            ranking.sort(&mut scored);
            scores::write_run(&shard::run_path(&scores_dir, part, b), &scored)?;
        }
    }
    let parts: Vec<output::Part> = parts.into_iter().map(|(part, _)| part).collect();
    let manifest = shard::ShardManifest::new(shard, blocks.len(), options.block_pairs, index, parts);
    let headline = match options.shard {
        Some(shard) => {
            let path = staged.path().join(shard::MANIFEST);
            let json = serde_json::to_string_pretty(&manifest).context("serialising the shard manifest")?;
            std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
            let scored: usize = own.clone().map(|b| candidates.count_in(blocks[b].clone())).sum();
            format!(
                "shard {shard}: blocks {}..{} of {} ({scored} of the {pairs} pairs per network); \
                 `ugrn merge` the {} shard folders for the network",
                own.start + 1,
                own.end,
                blocks.len(),
                shard.count
            )
        }
        None => {
            let headline = shard::finish_parts(staged.path(), &[(staged.path().to_path_buf(), manifest)])?;
            std::fs::remove_dir_all(&scores_dir).with_context(|| format!("removing {}", scores_dir.display()))?;
            headline
        }
    };
    shard::write_timings(&staged.path().join(shard::TIMINGS), &session.timings)?;
    let folder = staged.target().to_path_buf();
    staged.publish()?;
    Ok(Inferred { folder, pairs, headline })
}

/// The logit of each pair: the member's translator on its probe's features, an ensemble's the
/// mean of its members', as in the run that saved it.
fn score(
    session: &mut Session<'_>,
    registry: &Registry,
    members: &[Member],
    dataset: &Dataset,
    pairs: &[ugrn_sdk::Pair],
) -> anyhow::Result<Vec<f32>> {
    let mut member_logits = Vec::new();
    for member in members {
        let timed_as = format!("infer / {}", member.method);
        let features = session
            .features(&timed_as, &member.probe, dataset, pairs)
            .with_context(|| format!("{}: features of {}", member.method, member.probe.plugin))?;
        if features.columns != member.columns {
            bail!(
                "{}: {} gives the columns {:?}, but its translator was fitted on {:?}",
                member.method,
                member.probe.plugin,
                features.columns,
                member.columns
            );
        }
        let translator = registry.translator(&member.translator.plugin)?;
        let logits = translator
            .predict(&member.translator.params, &member.state, &features)
            .with_context(|| format!("{}: {} predicting", member.method, member.translator.plugin))?;
        if logits.len() != pairs.len() {
            bail!(
                "{}: {} returned {} scores for {} pairs",
                member.method,
                member.translator.plugin,
                logits.len(),
                pairs.len()
            );
        }
        member_logits.push(logits);
    }
    Ok((0..pairs.len()).map(|i| member_logits.iter().map(|l| l[i]).sum::<f32>() / member_logits.len() as f32).collect())
}

/// The summary's line on which cells each member's probe asked the model about.
fn base_description(members: &[Member], whose: &str, default_background: f32) -> String {
    let parts: Vec<String> = members
        .iter()
        .map(|m| {
            let params = &m.probe.params;
            let what = match (m.reads_cells, params.f64("background")) {
                (true, _) => format!("{whose} real mean cell"),
                (false, Ok(b)) => format!("virtual cells, every other gene at {b}"),
                (false, Err(_)) if params.is_from_model("background") => {
                    format!("virtual cells, every other gene at the model's default background ({default_background})")
                }
                (false, Err(_)) => "no cell (its features do not depend on the cells)".to_string(),
            };
            format!("{} ({}): {what}", m.method, m.probe.plugin)
        })
        .collect();
    parts.join("; ")
}

/// Refuses an `--output` that is, or holds, one of the inputs: `--force` would delete them.
fn refuse_output_over_inputs(options: &InferOptions) -> anyhow::Result<()> {
    let Ok(output) = std::fs::canonicalize(&options.output) else { return Ok(()) };
    let inputs = [
        Some(&options.translator),
        Some(&options.expression),
        options.pairs.as_ref(),
        match &options.tfs {
            TfSource::File(f) => Some(f),
            TfSource::Species(_) => None,
        },
    ];
    for input in inputs.into_iter().flatten() {
        if std::fs::canonicalize(input).is_ok_and(|i| i.starts_with(&output)) {
            bail!(
                "--output {}: holds the input {}; write the network to another folder",
                options.output.display(),
                input.display()
            );
        }
    }
    Ok(())
}

/// The cells of each value of the `.h5ad` obs column `column`, values sorted.
fn groups(path: &Path, column: &str, cells: usize) -> anyhow::Result<BTreeMap<String, Vec<usize>>> {
    if !is_h5ad(path) {
        bail!("--groupby {column}: groups are read from an .h5ad's obs, not {}", path.display());
    }
    let values = read_obs_column(path, column).with_context(|| format!("--groupby {column}"))?;
    if values.len() != cells {
        bail!("{}: obs column `{column}` has {} values for {} cells", path.display(), values.len(), cells);
    }
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (cell, value) in values.into_iter().enumerate() {
        groups.entry(value).or_default().push(cell);
    }
    let mut folders: BTreeMap<String, &str> = BTreeMap::new();
    for group in groups.keys() {
        if let Err(reason) = crate::translators::check_folder_name(group) {
            bail!("--groupby {column}: the value {group:?} {reason}, so it cannot name its folder groups/<value>");
        }
        if group.contains(['\t', '\n']) {
            bail!("--groupby {column}: the value {group:?} holds a tab or a line break");
        }
        if let Some(other) = folders.insert(folder_name(group), group) {
            bail!(
                "--groupby {column}: the values {other:?} and {group:?} would share the folder groups/{}",
                folder_name(group)
            );
        }
    }
    Ok(groups)
}

/// The expression file's name without its extensions (`BL--ExpressionData.csv.gz` →
/// `BL--ExpressionData`).
fn dataset_name(path: &Path) -> String {
    let name = path.file_name().map_or_else(|| "data".into(), |n| n.to_string_lossy().into_owned());
    let mut stem = name.as_str();
    for ext in [".gz", ".csv", ".h5ad"] {
        stem = stem.strip_suffix(ext).unwrap_or(stem);
    }
    stem.to_string()
}

/// Everything the outputs describe.
struct Inference<'a> {
    options: &'a InferOptions,
    manifest: &'a Manifest,
    members: &'a [Member],
    tfs: &'a candidates::MatchedTfs,
    candidates: &'a candidates::Candidates,
    /// Per gene: in the model's vocabulary.
    known: Vec<bool>,
    checkpoint: &'a Path,
    /// The sha256 of a checkpoint other than the translator's, applied anyway.
    other_checkpoint: Option<String>,
}

/// The saved method and its translated members (itself, or an ensemble's members), each with
/// its plugins found at the saved versions.
fn read_method(
    dir: &Path,
    registry: &Registry,
    overrides: &[(&str, Option<&str>)],
) -> anyhow::Result<(SavedMethod, Vec<Member>)> {
    let saved = SavedMethod::read(dir)?;
    let mut members = Vec::new();
    match &saved.manifest.method_kind {
        SavedKind::Translated { .. } => members.push(member(dir, &saved, registry, overrides)?),
        SavedKind::Ensemble { .. } => {
            for member_dir in saved.member_dirs(dir) {
                let m = SavedMethod::read(&member_dir)
                    .with_context(|| format!("{}: a member of the ensemble", dir.display()))?;
                if m.manifest.backbone != saved.manifest.backbone {
                    bail!("{}: its backbone differs from the ensemble's in {}", member_dir.display(), dir.display());
                }
                if matches!(m.manifest.method_kind, SavedKind::Ensemble { .. }) {
                    bail!("{}: an ensemble of ensembles is not supported", member_dir.display());
                }
                members.push(member(&member_dir, &m, registry, overrides)?);
            }
        }
    }
    Ok((saved, members))
}

/// `overrides` are (probe parameter, value) pairs from the command line, `None` where not given.
fn member(
    dir: &Path,
    saved: &SavedMethod,
    registry: &Registry,
    overrides: &[(&str, Option<&str>)],
) -> anyhow::Result<Member> {
    let SavedKind::Translated { probe, translator, columns, .. } = &saved.manifest.method_kind else {
        bail!("{}: not a translated method", dir.display());
    };
    let role = |what: &str| format!("{}: {what}", dir.display());
    let mut probe = probe.resolve(registry, PluginKind::Probe, &role("probe"))?;
    for &(key, value) in overrides {
        let Some(value) = value else { continue };
        let flag = if key == "cell" { "--base" } else { "--context" };
        let specs = &registry.require(&probe.plugin, PluginKind::Probe)?.info.params;
        if !specs.iter().any(|s| s.name == key) {
            bail!("{flag} {value}: {} (method {}) has no `{key}` parameter", probe.plugin, saved.manifest.method);
        }
        let mut given: BTreeMap<String, ParamValue> =
            probe.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        given.insert(key.into(), ParamValue::Str(value.to_string()));
        probe.params = Params::resolve(specs, given).with_context(|| format!("{flag} {value}"))?;
    }
    let translator = translator.resolve(registry, PluginKind::Translator, &role("translator"))?;
    let state = saved.state.clone().unwrap_or_default();
    let plugin = registry.probe(&probe.plugin)?;
    let reads_cells = plugin.needs_expression(&probe.params);
    let mean_only = plugin.reads_mean_cell_only(&probe.params);
    Ok(Member {
        method: saved.manifest.method.clone(),
        probe,
        translator,
        columns: columns.clone(),
        state,
        reads_cells,
        mean_only,
    })
}
