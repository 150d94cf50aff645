//! Attn probe: attention between source and target as scGPT's attention-GRN tutorial takes it
//! (see `../PROBES.md`).
//!
//! One cell (the dataset's real mean cell, or a virtual cell at the background) is run; the raw
//! q·k scores of one layer are rank-normalised per head, first along each row, then along each
//! column, and averaged over heads; the feature of pair (i, j) is that map at row j (the target's
//! query), column i (the source's key), as the tutorial reads a transcription factor's column.
use ugrn_probe_kit::{CellChoice, CellPlan, ProbeContext, Variant};
use ugrn_sdk::{
    AttentionMaps, Error, Features, Matrix, ModelInfo, ModelOracle, ParamSpec, Params, PluginInfo, PluginKind, Probe,
    ProbeRequest, Progress, Result,
};

#[derive(Debug, Default)]
pub struct Attn;

/// The tutorial's normalisation of one cell's maps, as a `genes × genes` row-major map: per
/// head, each score becomes its rank within its row divided by the gene count, each of those its
/// rank within its column divided by the gene count, then heads are averaged.
///
/// Ties (common in the column step, whose inputs are row ranks) keep position order, as a
/// stable sort does; torch's `argsort` leaves their order unspecified.
pub fn rank_normalize(maps: &AttentionMaps, cell: usize) -> Vec<f32> {
    let m = maps.genes;
    let scale = 1.0 / m as f32;
    let mut mean = vec![0.0f32; m * m];
    let mut by_row = vec![0.0f32; m * m];
    let mut column = vec![0.0f32; m];
    let mut order: Vec<usize> = Vec::with_capacity(m);
    // Positions in ascending order of value: position `order[r]` has rank r.
    let rank = |values: &[f32], order: &mut Vec<usize>| {
        order.clear();
        order.extend(0..values.len());
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    };
    for h in 0..maps.heads {
        let scores = maps.head(cell, h);
        for i in 0..m {
            rank(&scores[i * m..(i + 1) * m], &mut order);
            for (r, &j) in order.iter().enumerate() {
                by_row[i * m + j] = r as f32 * scale;
            }
        }
        for j in 0..m {
            for i in 0..m {
                column[i] = by_row[i * m + j];
            }
            rank(&column, &mut order);
            for (r, &i) in order.iter().enumerate() {
                mean[i * m + j] += r as f32 * scale;
            }
        }
    }
    let heads = maps.heads.max(1) as f32;
    mean.iter_mut().for_each(|x| *x /= heads);
    mean
}

/// The one feature's name.
const COLUMN: &str = "attn";

/// `layer` as a 0-based index; negative values count from the last layer.
fn layer_index(params: &Params, layers: usize) -> Result<usize> {
    let given = params.i64("layer")?;
    let index = if given < 0 { layers as i64 + given } else { given };
    usize::try_from(index).ok().filter(|&l| l < layers).ok_or_else(|| {
        Error::param(
            "layer",
            format!("{given} is not a layer of this {layers}-layer model (0..{layers}, or -1 = last)"),
        )
    })
}

impl Probe for Attn {
    fn describe(&self) -> PluginInfo {
        PluginInfo {
            name: "probe-attn".into(),
            kind: PluginKind::Probe,
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Attention score of the target's query on the source's key, rank-normalised by row \
                          then column and averaged over heads (scGPT's attention-GRN tutorial)"
                .into(),
            params: vec![
                // The tutorial reads real cells.
                CellChoice::param_spec("mean"),
                CellChoice::background_spec("every gene of the `virtual` cell"),
                ParamSpec::int(
                    "layer",
                    -1,
                    "layer whose q·k scores are read, 0-based; negative counts from the last (-1 = last, as the tutorial)",
                )
                // The model's own layer count is checked when it is loaded.
                .within(-1024.0, 1023.0),
                ProbeContext::param_spec(ProbeContext::Dataset),
            ],
        }
    }

    fn needs_expression(&self, params: &Params) -> bool {
        CellChoice::needs_expression(params)
    }

    fn reads_mean_cell_only(&self, _: &Params) -> bool {
        // Its cells start from the virtual cell or the mean cell (`CellPlan::mean_cell`).
        true
    }

    fn columns(&self, params: &Params, info: &ModelInfo) -> Result<Option<Vec<String>>> {
        layer_index(params, info.layers)?;
        CellChoice::from_params(params, info)?;
        ProbeContext::from_params(params)?;
        Ok(Some(vec![COLUMN.into()]))
    }

    fn features(
        &self,
        request: &ProbeRequest<'_>,
        oracle: &dyn ModelOracle,
        progress: &dyn Progress,
    ) -> Result<Features> {
        let params = request.params;
        let layer = layer_index(params, oracle.info().layers)?;
        let cell = CellChoice::from_params(params, oracle.info())?;
        let plan = CellPlan::new(request, oracle, ProbeContext::from_params(params)?)?;
        let base = cell.values(&plan, &request.dataset, oracle)?;
        plan.run(vec![COLUMN.into()], &base.base(), &[Variant::Unchanged], progress, |cells| {
            let mut normalized = Vec::with_capacity(cells.batches().len());
            for batch in cells.batches() {
                let maps = oracle.attention_scores(batch, layer)?;
                let (c, g) = (batch.cells(), batch.genes());
                if maps.cells != c || maps.genes != g || maps.heads == 0 || maps.data.len() != c * maps.heads * g * g {
                    return Err(Error::compute(format!(
                        "the oracle gave attention maps of {} cells × {} heads × {} genes ({} values) for {c} \
                         cells of {g} genes",
                        maps.cells,
                        maps.heads,
                        maps.genes,
                        maps.data.len()
                    )));
                }
                normalized.push((0..c).map(|cell| rank_normalize(&maps, cell)).collect::<Vec<_>>());
            }
            let scores = (0..cells.rows())
                .map(|row| {
                    let r = cells.read(row, 0);
                    let genes = cells.batches()[r.batch].genes();
                    normalized[r.batch][r.cell][r.target * genes + r.source]
                })
                .collect();
            Matrix::new(cells.rows(), 1, scores)
        })
    }
}
