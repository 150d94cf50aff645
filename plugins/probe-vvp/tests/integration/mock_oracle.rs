//! VVP against the closed-form mock oracle.

use ugrn_probe_kit::SOURCES_PER_CHUNK;
use ugrn_probe_kit::testing::mock::{
    ALPHA, Mock, Recorder, all_pairs, assert_close, floats, genes, pair, params, request, text, w,
};
use ugrn_probe_vvp::{DEFAULT_TARGETS, Vvp};
use ugrn_sdk::{ModelOracle, NoProgress, ParamValue, Probe};

/// VVP of pair (i, j) at target v over a virtual cell of `n` genes at background `b`:
/// w(j, i)·(v − b) + ALPHA·(((n − 1)·b + v)² − (n·b)²).
fn expected(i: u32, j: u32, v: f64, b: f64, n: f64) -> f64 {
    w(j, i) * (v - b) + ALPHA * (((n - 1.0) * b + v).powi(2) - (n * b).powi(2))
}

#[test]
fn dataset_context_gives_the_response_over_the_whole_cell() {
    // `X` is outside the vocabulary, so the context is G0..G4 (five genes).
    let mut g = genes(5);
    g.push("X".into());
    let pairs = [pair(1, 2), pair(1, 1), pair(3, 0), pair(1, 4)];
    let p = params(&Vvp, &[("targets", floats(&[0.0, 5.0, 20.0])), ("background", ParamValue::Float(1.0))]).unwrap();
    let f = Vvp.features(&request(&p, &g, None, &pairs), &Mock::new(), &NoProgress).unwrap();
    assert_eq!(f.columns, ["vvp_v0", "vvp_v5", "vvp_v20"]);
    // By hand for (G1 → G2) at 5: w(2, 1) = 0.1, so 0.1·4 + 0.01·((4 + 5)² − 5²) = 0.96.
    assert_close(f.values.get(0, 1), 0.96);
    for (row, p) in pairs.iter().enumerate() {
        for (m, v) in [0.0, 5.0, 20.0].into_iter().enumerate() {
            assert_close(f.values.get(row, m), expected(p.source as u32, p.target as u32, v, 1.0, 5.0));
        }
    }
}

#[test]
fn pair_context_sees_only_the_two_genes() {
    let g = genes(5);
    let pairs = [pair(1, 2), pair(1, 1), pair(4, 0)];
    let p = params(&Vvp, &[("targets", floats(&[5.0, 30.0])), ("context", text("pair"))]).unwrap();
    let f = Vvp.features(&request(&p, &g, None, &pairs), &Mock::new(), &NoProgress).unwrap();
    // (G1 → G2) at 5: 0.1·4 + 0.01·((1 + 5)² − 2²) = 0.72, not the 0.96 of the dataset context.
    assert_close(f.values.get(0, 0), 0.72);
    for (m, v) in [5.0, 30.0].into_iter().enumerate() {
        assert_close(f.values.get(0, m), expected(1, 2, v, 1.0, 2.0));
        // A self-pair is a one-gene cell.
        assert_close(f.values.get(1, m), expected(1, 1, v, 1.0, 1.0));
        assert_close(f.values.get(2, m), expected(4, 0, v, 1.0, 2.0));
    }
}

#[test]
fn defaults_are_the_fixture_targets_at_background_one_in_dataset_context() {
    let g = genes(3);
    let pairs = [pair(0, 2)];
    let p = params(&Vvp, &[]).unwrap();
    // The default mock declares scGPT's range, 0..50 with background 1.
    let f = Vvp.features(&request(&p, &g, None, &pairs), &Mock::new(), &NoProgress).unwrap();
    let fixture = [0.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0];
    assert_eq!(f.columns, fixture.map(|v| format!("vvp_v{v}")));
    for (m, v) in fixture.into_iter().enumerate() {
        assert_close(f.values.get(0, m), expected(0, 2, v, 1.0, 3.0));
    }
}

#[test]
fn defaults_follow_the_model_range_and_background() {
    let g = genes(3);
    let pairs = [pair(0, 2)];
    let p = params(&Vvp, &[]).unwrap();
    let f = Vvp.features(&request(&p, &g, None, &pairs), &Mock::with_values(2.0, 4.0, 2.5), &NoProgress).unwrap();
    let seen_by_check = Vvp.columns(&p, Mock::with_values(2.0, 4.0, 2.5).info()).unwrap();
    assert_eq!(seen_by_check, Some(f.columns.clone()));
    // 2 + 2·n/50 for the fixture's numerators.
    let spread = [2.0, 2.2, 2.4, 2.8, 3.2, 3.6, 4.0, 4.4];
    assert_eq!(f.columns, spread.map(|v| format!("vvp_v{}", v as f32)));
    assert_eq!(DEFAULT_TARGETS.numerators.len(), spread.len());
    for (m, v) in spread.into_iter().enumerate() {
        assert_close(f.values.get(0, m), expected(0, 2, v, 2.5, 3.0));
    }
    // Given values are kept whatever the model; a model without a finite range needs them.
    let given = params(&Vvp, &[("targets", floats(&[7.0])), ("background", ParamValue::Float(0.5))]).unwrap();
    let f = Vvp.features(&request(&given, &g, None, &pairs), &Mock::with_values(2.0, 4.0, 2.5), &NoProgress).unwrap();
    assert_eq!(f.columns, ["vvp_v7"]);
    assert_close(f.values.get(0, 0), expected(0, 2, 7.0, 0.5, 3.0));
    let unbounded = Mock::with_values(0.0, f32::INFINITY, 1.0);
    let err = Vvp.features(&request(&p, &g, None, &pairs), &unbounded, &NoProgress).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: the mock model declares the input range 0..inf, so no default values can be spread over \
         it: give the values"
    );
}

#[test]
fn dataset_context_runs_one_cell_per_source_and_target_value() {
    let g = genes(40);
    let targets: Vec<usize> = (0..10).collect();
    let oracle = Mock::new();
    let pairs = all_pairs(0..10, &targets);
    let p = params(&Vvp, &[]).unwrap();
    Vvp.features(&request(&p, &g, None, &pairs), &oracle, &NoProgress).unwrap();
    let calls = oracle.calls("readout");
    // 100 pairs, one call: 10 sources × 8 targets and the one shared reference cell.
    assert_eq!(calls.len(), 1);
    assert_eq!((calls[0].cells, calls[0].genes), (10 * 8 + 1, 40));

    // 40 sources split into chunks of 16, 16 and 8, progress following them.
    assert_eq!(SOURCES_PER_CHUNK, 16);
    let oracle = Mock::new();
    let pairs = all_pairs(0..40, &[0, 1]);
    let progress = Recorder::default();
    Vvp.features(&request(&p, &g, None, &pairs), &oracle, &progress).unwrap();
    let cells: Vec<usize> = oracle.calls("readout").iter().map(|c| c.cells).collect();
    assert_eq!(cells, [16 * 8 + 1, 16 * 8 + 1, 8 * 8 + 1]);
    assert_eq!(*progress.total.lock().unwrap(), [80]);
    assert_eq!(*progress.advanced.lock().unwrap(), [32, 32, 16]);
}

#[test]
fn pair_context_packs_all_pairs_into_one_batch() {
    let g = genes(20);
    let oracle = Mock::new();
    let pairs = all_pairs(0..10, &[10, 11, 12]);
    let p = params(&Vvp, &[("context", text("pair"))]).unwrap();
    Vvp.features(&request(&p, &g, None, &pairs), &oracle, &NoProgress).unwrap();
    let calls = oracle.calls("readout");
    assert_eq!(calls.len(), 1);
    assert_eq!((calls[0].cells, calls[0].genes), (30 * 9, 2));
}

#[test]
fn bad_parameters_and_genes_are_named() {
    let g = vec!["G0".to_string(), "NOPE".to_string()];
    let pairs = [pair(0, 1)];
    let oracle = Mock::new();
    let run = |given: &[(&str, ParamValue)]| {
        let p = params(&Vvp, given)?;
        Vvp.features(&request(&p, &g, None, &pairs), &oracle, &NoProgress)
    };
    assert_eq!(
        run(&[("targets", floats(&[]))]).unwrap_err().to_string(),
        "parameter `targets`: expected at least one value"
    );
    assert_eq!(
        run(&[("background", ParamValue::Float(f64::NAN))]).unwrap_err().to_string(),
        "parameter `background`: NaN is outside -1000000000..=1000000000"
    );
    assert_eq!(
        run(&[("context", text("cell"))]).unwrap_err().to_string(),
        "parameter `context`: \"cell\" is not one of dataset, pair"
    );
    assert_eq!(
        run(&[]).unwrap_err().to_string(),
        "invalid input: gene `NOPE` (pair 0) of dataset `toy` is not in the mock vocabulary"
    );
}

#[test]
fn dataset_context_longer_than_the_model_runs_tiled() {
    // Five genes for a model of four: windows [G0 G1] and [G2 G3 G4]; each cell is a window plus
    // the source, and the response is the closed form over that cell's length.
    let g = genes(5);
    let pairs = all_pairs([0, 3], &[0, 1, 2, 3, 4]);
    let p = params(&Vvp, &[("targets", floats(&[5.0])), ("background", ParamValue::Float(1.0))]).unwrap();
    let mock = Mock::with_max_context(4);
    let f = Vvp.features(&request(&p, &g, None, &pairs), &mock, &NoProgress).unwrap();
    let cell_length = |source: usize, target: usize| match (source, target < 2) {
        (0, true) => 2.0,
        (0, false) => 4.0,
        _ => 3.0,
    };
    for (row, p) in pairs.iter().enumerate() {
        let n = cell_length(p.source, p.target);
        assert_close(f.values.get(row, 0), expected(p.source as u32, p.target as u32, 5.0, 1.0, n));
    }
    assert!(mock.calls("readout").iter().all(|c| c.genes <= 4), "{:?}", mock.calls("readout"));
}

#[test]
fn mean_cell_measures_the_response_from_the_datasets_own_state() {
    // G0..G2 over two cells; the mock prepares 2 × the mean: the mean cell is [2, 6, 4] (sum 12).
    let g = genes(3);
    let values = ugrn_sdk::Matrix::new(3, 2, vec![1.0, 1.0, 2.0, 4.0, 3.0, 1.0]).unwrap();
    let x = ugrn_sdk::Expression { cell_names: vec!["c1".into(), "c2".into()], values };
    let mean = [2.0, 6.0, 4.0];
    let pairs = [pair(1, 0), pair(2, 1)];
    let p = params(&Vvp, &[("targets", floats(&[0.0, 10.0])), ("cell", text("mean"))]).unwrap();
    assert!(Vvp.needs_expression(&p));
    let f = Vvp.features(&request(&p, &g, Some(&x), &pairs), &Mock::new(), &NoProgress).unwrap();
    // Source i set to v in the mean cell, minus the mean cell: w(j, i)·(v − m_i) + ALPHA·((12 − m_i + v)² − 12²).
    // By hand for (G1 → G0) at 10: w(0, 1) = −0.2, so −0.2·4 + 0.01·(16² − 12²) = 0.32.
    assert_close(f.values.get(0, 1), 0.32);
    for (row, p) in pairs.iter().enumerate() {
        let mi = mean[p.source];
        for (m, v) in [0.0, 10.0].into_iter().enumerate() {
            let response = w(p.target as u32, p.source as u32) * (v - mi) + ALPHA * ((12.0 - mi + v).powi(2) - 144.0);
            assert_close(f.values.get(row, m), response);
        }
    }
}
