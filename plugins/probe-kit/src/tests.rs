use std::collections::BTreeMap;
use std::sync::Mutex;

use ugrn_sdk::{
    AttentionMaps, CellBatch, DatasetView, Error, Expression, GeneSymbol, Matrix, ModelInfo, ModelOracle, NoProgress,
    Pair, ParamSpec, ParamValue, Params, Pass, ProbeRequest, Result, TokenId,
};

use crate::*;

/// Readout = 10·token + value, derivative = the source's token; records each batch.
struct Echo {
    info: ModelInfo,
    batches: Mutex<Vec<(usize, usize)>>,
}

impl Echo {
    fn new(max_context: usize) -> Self {
        Echo {
            info: ModelInfo {
                family: "echo".into(),
                checkpoint: String::new(),
                checkpoint_sha256: String::new(),
                device: "cpu".into(),
                dtype: "f32".into(),
                layers: 1,
                heads: 1,
                embedding_dim: 1,
                max_context,
                value_min: 0.0,
                value_max: 50.0,
                default_background: 1.0,
                vocabulary: 100,
            },
            batches: Mutex::new(Vec::new()),
        }
    }
}

impl ModelOracle for Echo {
    fn info(&self) -> &ModelInfo {
        &self.info
    }
    fn token_ids(&self, genes: &[GeneSymbol]) -> Vec<Option<TokenId>> {
        genes.iter().map(|g| g.strip_prefix('G').and_then(|n| n.parse().ok())).collect()
    }
    fn readout(&self, cells: &CellBatch) -> Result<Matrix> {
        self.batches.lock().unwrap().push((cells.cells(), cells.genes()));
        let data = cells.tokens().iter().zip(&cells.values().data).map(|(&t, &v)| 10.0 * t as f32 + v);
        Matrix::new(cells.cells(), cells.genes(), data.collect())
    }
    fn readout_derivative(&self, cells: &CellBatch, sources: &[usize]) -> Result<Matrix> {
        let mut m = Matrix::zeros(cells.cells(), cells.genes());
        for c in 0..cells.cells() {
            m.row_mut(c).fill(cells.cell_tokens(c)[sources[c]] as f32);
        }
        Ok(m)
    }
    fn gene_embeddings(&self, _: &[TokenId]) -> Result<Matrix> {
        unreachable!("not used by these tests")
    }
    fn attention_scores(&self, _: &CellBatch, _: usize) -> Result<AttentionMaps> {
        unreachable!("not used by these tests")
    }
    fn prepare_expression(&self, _: &[TokenId], expression: &[f32]) -> Result<Vec<f32>> {
        Ok(expression.iter().map(|x| 2.0 * x).collect())
    }
    fn bytes_per_cell(&self, _: usize, _: Pass) -> u64 {
        1
    }
}

fn genes(names: &[&str]) -> Vec<GeneSymbol> {
    names.iter().map(|s| s.to_string()).collect()
}

fn request<'a>(
    params: &'a Params,
    genes: &'a [GeneSymbol],
    expression: Option<&'a Expression>,
    pairs: &'a [Pair],
) -> ProbeRequest<'a> {
    ProbeRequest {
        params,
        dataset: DatasetView { name: "toy", genes, expression, expression_source: "toy.csv" },
        pairs,
    }
}

fn pair(source: usize, target: usize) -> Pair {
    Pair { source, target }
}

#[test]
fn groups_pairs_by_source_in_first_appearance_order() {
    let groups = group_by_source(&[pair(2, 0), pair(1, 0), pair(2, 1), pair(1, 1), pair(2, 2)]);
    assert_eq!(
        groups,
        vec![SourceGroup { source: 2, rows: vec![0, 2, 4] }, SourceGroup { source: 1, rows: vec![1, 3] }]
    );
}

#[test]
fn context_param_resolves_and_documents_its_default() {
    let specs = [ProbeContext::param_spec(ProbeContext::Dataset)];
    let params = Params::defaults(&specs);
    assert_eq!(ProbeContext::from_params(&params).unwrap(), ProbeContext::Dataset);
    let given = BTreeMap::from([("context".to_string(), ParamValue::Str("pair".into()))]);
    let params = Params::resolve(&specs, given).unwrap();
    assert_eq!(ProbeContext::from_params(&params).unwrap(), ProbeContext::Pair);
}

#[test]
fn value_lists_must_be_distinct_and_nonempty() {
    let specs = [ParamSpec::floats("targets", &[], "")];
    let check = |xs: Vec<ParamValue>| {
        let params = Params::resolve(&specs, BTreeMap::from([("targets".into(), ParamValue::List(xs))]))?;
        value_list_param(&params, "targets", &Echo::new(10).info, &RangeSpread { numerators: &[1.0], denominator: 2.0 })
    };
    assert_eq!(check(vec![ParamValue::Int(5), ParamValue::Float(2.5)]).unwrap(), vec![5.0, 2.5]);
    assert_eq!(check(vec![]).unwrap_err().to_string(), "parameter `targets`: expected at least one value");
    assert_eq!(
        check(vec![ParamValue::Int(5), ParamValue::Float(5.0)]).unwrap_err().to_string(),
        "parameter `targets`: 5 is listed twice (as the model's f32 input)"
    );
    // Distinct as f64, the same f32 input and column name.
    assert_eq!(
        check(vec![ParamValue::Float(0.1), ParamValue::Float(0.10000000001)]).unwrap_err().to_string(),
        "parameter `targets`: 0.1 is listed twice (as the model's f32 input)"
    );
    // Past f32 (a component's ranges do not cross WIT 0.1.0, so the kit checks again).
    assert_eq!(
        check(vec![ParamValue::Float(1e39)]).unwrap_err().to_string(),
        "parameter `targets`: 1e39 is outside -1000000000..=1000000000"
    );
}

#[test]
fn dataset_context_shares_cells_per_source_and_the_unchanged_cell() {
    // G3 is outside the vocabulary, so the context is [G1, G2, G4] = tokens [1, 2, 4].
    let g = genes(&["G1", "G2", "X", "G4"]);
    let pairs = [pair(0, 1), pair(3, 0), pair(0, 3), pair(0, 0)];
    let params = Params::default();
    let oracle = Echo::new(10);
    let plan = CellPlan::new(&request(&params, &g, None, &pairs), &oracle, ProbeContext::Dataset).unwrap();
    assert_eq!(plan.context_tokens(), &[1, 2, 4]);
    let variants = [Variant::Set(7.0), Variant::Unchanged];
    let rows: Vec<usize> = (0..pairs.len()).collect();
    let cells = plan.cells(&rows, &BaseCell::Virtual(0.5), &variants);
    // Two sources × one set cell, plus the one shared unchanged cell.
    assert_eq!(cells.batches().len(), 1);
    assert_eq!(cells.batches()[0].cells(), 3);
    assert_eq!(cells.batches()[0].values().data, vec![7.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 7.0]);
    assert_eq!(cells.read(2, 0), ReadSite { batch: 0, cell: 0, source: 0, target: 2 });
    assert_eq!(cells.read(1, 1), ReadSite { batch: 0, cell: 1, source: 2, target: 0 });
    let r = cells.readout(&oracle).unwrap();
    // Row (G1 → G2): G2 reads 20 + 0.5 in both cells; row (G1 → G1): 10 + 7 vs 10 + 0.5.
    assert_eq!(r.row(0), &[20.5, 20.5]);
    assert_eq!(r.row(3), &[17.0, 10.5]);
    assert_eq!(
        cells.derivative(&oracle).unwrap_err().to_string(),
        "invalid input: derivatives need one source per cell, but an unchanged cell is shared by several sources"
    );
}

#[test]
fn pair_context_packs_pairs_and_splits_self_pairs() {
    let g = genes(&["G1", "G2", "G4"]);
    let pairs = [pair(0, 1), pair(2, 2), pair(2, 0)];
    let params = Params::default();
    let oracle = Echo::new(1);
    let plan = CellPlan::new(&request(&params, &g, None, &pairs), &oracle, ProbeContext::Pair).unwrap();
    let cells = plan.cells(&[0, 1, 2], &BaseCell::Virtual(1.0), &[Variant::Set(3.0)]);
    assert_eq!(cells.batches().len(), 2);
    assert_eq!(cells.batches()[0].tokens(), &[1, 2, 4, 1]);
    assert_eq!(cells.batches()[0].values().data, vec![3.0, 1.0, 3.0, 1.0]);
    assert_eq!(cells.batches()[1].tokens(), &[4]);
    assert_eq!(cells.read(1, 0), ReadSite { batch: 1, cell: 0, source: 0, target: 0 });
    assert_eq!(cells.readout(&oracle).unwrap().data, vec![21.0, 43.0, 11.0]);
    assert_eq!(cells.derivative(&oracle).unwrap().data, vec![1.0, 4.0, 4.0]);
}

#[test]
fn run_chunks_by_source_and_restores_request_order() {
    let names: Vec<String> = (0..SOURCES_PER_CHUNK + 6).map(|k| format!("G{k}")).collect();
    let pairs: Vec<Pair> = (0..names.len()).rev().map(|s| pair(s, 0)).collect();
    let params = Params::default();
    let oracle = Echo::new(names.len());
    let plan = CellPlan::new(&request(&params, &names, None, &pairs), &oracle, ProbeContext::Dataset).unwrap();
    let f = plan
        .run(vec!["d".into()], &BaseCell::Virtual(0.0), &[Variant::Set(1.0)], &NoProgress, |cells| {
            cells.readout(&oracle)
        })
        .unwrap();
    // Target G0 reads its token 0 plus its value: 1 for the source G0 itself, else 0.
    let expected: Vec<f32> = pairs.iter().map(|p| if p.source == 0 { 1.0 } else { 0.0 }).collect();
    assert_eq!(f.values.data, expected);
    assert_eq!(*oracle.batches.lock().unwrap(), vec![(SOURCES_PER_CHUNK, names.len()), (6, names.len())]);
}

#[test]
fn unchanged_only_runs_one_chunk() {
    let names: Vec<String> = (0..SOURCES_PER_CHUNK + 1).map(|k| format!("G{k}")).collect();
    let pairs: Vec<Pair> = (0..names.len()).map(|s| pair(s, 1)).collect();
    let params = Params::default();
    let oracle = Echo::new(names.len());
    let plan = CellPlan::new(&request(&params, &names, None, &pairs), &oracle, ProbeContext::Dataset).unwrap();
    let f = plan
        .run(vec!["r".into()], &BaseCell::Virtual(2.0), &[Variant::Unchanged], &NoProgress, |cells| {
            cells.readout(&oracle)
        })
        .unwrap();
    assert_eq!(f.values.data, vec![12.0; names.len()]);
    assert_eq!(*oracle.batches.lock().unwrap(), vec![(1, names.len())]);
}

#[test]
fn mean_cell_is_prepared_over_the_context() {
    let g = genes(&["G1", "X", "G2"]);
    let expression = Expression {
        cell_names: vec!["a".into(), "b".into()],
        values: Matrix::new(3, 2, vec![1.0, 3.0, 100.0, 100.0, 0.0, 1.0]).unwrap(),
    };
    let pairs = [pair(0, 2)];
    let params = Params::default();
    let oracle = Echo::new(10);
    let req = request(&params, &g, Some(&expression), &pairs);
    let plan = CellPlan::new(&req, &oracle, ProbeContext::Pair).unwrap();
    assert_eq!(plan.mean_cell(&req.dataset, &oracle).unwrap(), vec![4.0, 1.0]);
    let bare = request(&params, &g, None, &pairs);
    assert_eq!(
        plan.mean_cell(&bare.dataset, &oracle).unwrap_err(),
        Error::NotApplicable(
            "dataset `toy` has no expression matrix (expected from toy.csv); the real mean cell needs one".into()
        )
    );
}

#[test]
fn errors_name_the_gene_and_dataset() {
    let g = genes(&["G1", "X", "G2"]);
    let params = Params::default();
    let oracle = Echo::new(1);
    let err = CellPlan::new(&request(&params, &g, None, &[pair(0, 1)]), &oracle, ProbeContext::Pair).unwrap_err();
    assert_eq!(err.to_string(), "invalid input: gene `X` (pair 0) of dataset `toy` is not in the echo vocabulary");
    let err = pair_tokens(&request(&params, &g, None, &[pair(0, 2), pair(7, 0)]), &oracle).unwrap_err();
    assert_eq!(err.to_string(), "invalid input: pair 1 names gene 7, but dataset `toy` has 3 genes");
    let err = CellPlan::new(&request(&params, &g, None, &[pair(0, 2)]), &oracle, ProbeContext::Dataset).unwrap_err();
    assert_eq!(
        err.to_string(),
        "parameter `context`: 2 context genes cannot be tiled into cells of at most 1 gene: a cell holds the \
         source and at least one target"
    );
}

#[test]
fn a_tiled_context_reads_each_pair_once_in_the_cell_of_its_targets_window() {
    // Seven genes for a model of three: windows [G1] [G2 G3] [G4 G5] [G6 G7], each cell a window
    // plus the source. Echo's readout depends on the target's own token and value only, so the
    // tiled features must equal the untiled ones exactly.
    let g: Vec<String> = (1..=7).map(|k| format!("G{k}")).collect();
    let pairs: Vec<Pair> = [0, 3, 6].iter().flat_map(|&s| (0..7).map(move |t| pair(s, t))).collect();
    let params = Params::default();
    let variants = [Variant::Set(9.0), Variant::Unchanged];
    let features = |max_context: usize, compute: &dyn Fn(&ChunkCells, &Echo) -> Result<Matrix>| {
        let oracle = Echo::new(max_context);
        let plan = CellPlan::new(&request(&params, &g, None, &pairs), &oracle, ProbeContext::Dataset).unwrap();
        let f = plan
            .run(vec!["a".into(), "b".into()], &BaseCell::Virtual(0.5), &variants, &NoProgress, |cells| {
                compute(cells, &oracle)
            })
            .unwrap();
        (plan.tiling(), f.values, oracle.batches.into_inner().unwrap())
    };
    let (tiled, tiled_readout, batches) = features(3, &|c, o| c.readout(o));
    let (whole, whole_readout, _) = features(10, &|c, o| c.readout(o));
    assert_eq!((tiled.windows(), whole.windows()), (4, 1));
    assert_eq!(tiled_readout, whole_readout);
    let expected: Vec<f32> = pairs
        .iter()
        .flat_map(|p| {
            [
                10.0 * (p.target + 1) as f32 + if p.source == p.target { 9.0 } else { 0.5 },
                10.0 * (p.target + 1) as f32 + 0.5,
            ]
        })
        .collect();
    assert_eq!(tiled_readout.data, expected);
    // 3 sources × 4 windows × 2 variants (no shared unchanged cell), none longer than the model.
    assert_eq!(batches.iter().map(|b| b.0).sum::<usize>(), 24);
    assert!(batches.iter().all(|b| b.1 <= 3), "{batches:?}");
    // An unchanged variant cannot share cells across sources once tiled, so derivatives work.
    let variants = [Variant::Set(9.0)];
    let oracle = Echo::new(3);
    let plan = CellPlan::new(&request(&params, &g, None, &pairs), &oracle, ProbeContext::Dataset).unwrap();
    let cells = plan.cells(&(0..pairs.len()).collect::<Vec<_>>(), &BaseCell::Virtual(0.5), &variants);
    let d = cells.derivative(&oracle).unwrap();
    assert_eq!(d.data, pairs.iter().map(|p| (p.source + 1) as f32).collect::<Vec<_>>());
    // Source G1 with window [G4 G5]: the cell is [G1, G4, G5], the source first.
    let r = cells.read(3, 0);
    let batch = &cells.batches()[r.batch];
    assert_eq!((batch.cell_tokens(r.cell), r.source, r.target), (&[1, 4, 5][..], 0, 1));
    assert_eq!(batch.values().row(r.cell), &[9.0, 0.5, 0.5]);
}
