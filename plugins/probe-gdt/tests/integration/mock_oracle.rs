//! GDT against the closed-form mock oracle.

use ugrn_probe_gdt::{DEFAULT_BASELINES, Gdt};
use ugrn_probe_kit::testing::mock::{
    ALPHA, Mock, Recorder, all_pairs, assert_close, floats, genes, pair, params, request, text, w,
};
use ugrn_sdk::{ModelOracle, NoProgress, ParamValue, Probe};

/// ∂readout_j/∂v_i with i at `v` and the other `n − 1` genes at `b`: w(j, i) + 2·ALPHA·((n − 1)·b + v).
fn expected(i: u32, j: u32, v: f64, b: f64, n: f64) -> f64 {
    w(j, i) + 2.0 * ALPHA * ((n - 1.0) * b + v)
}

#[test]
fn dataset_context_gives_the_slope_in_the_whole_cell() {
    let mut g = genes(5);
    g.push("X".into());
    let pairs = [pair(1, 2), pair(3, 3), pair(3, 0)];
    let p = params(&Gdt, &[("baselines", floats(&[0.0, 5.0])), ("background", ParamValue::Float(2.0))]).unwrap();
    let f = Gdt.features(&request(&p, &g, None, &pairs), &Mock::new(), &NoProgress).unwrap();
    assert_eq!(f.columns, ["gdt_b0", "gdt_b5"]);
    // By hand for (G1 → G2) at 5: w(2, 1) + 0.02·(4·2 + 5) = 0.1 + 0.26 = 0.36.
    assert_close(f.values.get(0, 1), 0.36);
    for (row, p) in pairs.iter().enumerate() {
        for (t, v) in [0.0, 5.0].into_iter().enumerate() {
            assert_close(f.values.get(row, t), expected(p.source as u32, p.target as u32, v, 2.0, 5.0));
        }
    }
}

#[test]
fn dataset_context_longer_than_the_model_runs_tiled() {
    // Seven genes for a model of three: windows [G0] [G1 G2] [G3 G4] [G5 G6]; each cell is a
    // window plus the source, so the slope is the closed form over that cell's length.
    let g = genes(7);
    let targets: Vec<usize> = (0..7).collect();
    let pairs = all_pairs([0, 4, 6], &targets);
    let p = params(&Gdt, &[("baselines", floats(&[3.0])), ("background", ParamValue::Float(2.0))]).unwrap();
    let mock = Mock::with_max_context(3);
    let f = Gdt.features(&request(&p, &g, None, &pairs), &mock, &NoProgress).unwrap();
    let window = |gene: usize| [0, 1, 1, 2, 2, 3, 3][gene];
    let window_len = [1.0, 2.0, 2.0, 2.0];
    for (row, p) in pairs.iter().enumerate() {
        let w_t = window(p.target);
        let n = window_len[w_t] + if window(p.source) == w_t { 0.0 } else { 1.0 };
        assert_close(f.values.get(row, 0), expected(p.source as u32, p.target as u32, 3.0, 2.0, n));
    }
    let calls = mock.calls("derivative");
    assert!(calls.iter().all(|c| c.genes <= 3), "{calls:?}");
    assert_eq!(calls.iter().map(|c| c.cells).sum::<usize>(), 3 * 4, "one cell per source and window");
}

#[test]
fn pair_context_gives_the_slope_in_a_two_gene_cell() {
    let g = genes(5);
    let pairs = [pair(1, 2), pair(3, 3)];
    let p = params(&Gdt, &[("context", text("pair"))]).unwrap();
    let f = Gdt.features(&request(&p, &g, None, &pairs), &Mock::new(), &NoProgress).unwrap();
    // The default mock declares scGPT's range, 0..50 with background 1: the fixture's baselines.
    let fixture = [0.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0];
    assert_eq!(f.columns, fixture.map(|v| format!("gdt_b{v}")));
    for (t, v) in fixture.into_iter().enumerate() {
        assert_close(f.values.get(0, t), expected(1, 2, v, 1.0, 2.0));
        assert_close(f.values.get(1, t), expected(3, 3, v, 1.0, 1.0));
    }
}

#[test]
fn defaults_follow_the_model_range_and_background() {
    let g = genes(4);
    let pairs = [pair(1, 2)];
    let p = params(&Gdt, &[]).unwrap();
    let f = Gdt.features(&request(&p, &g, None, &pairs), &Mock::with_values(0.0, 1.0, 0.25), &NoProgress).unwrap();
    let seen_by_check = Gdt.columns(&p, Mock::with_values(0.0, 1.0, 0.25).info()).unwrap();
    assert_eq!(seen_by_check, Some(f.columns.clone()));
    // n/50 for the fixture's numerators.
    let spread = [0.0, 0.04, 0.1, 0.2, 0.3, 0.4, 0.6, 0.9];
    assert_eq!(DEFAULT_BASELINES.numerators.len(), spread.len());
    assert_eq!(f.columns, spread.map(|v| format!("gdt_b{}", v as f32)));
    for (t, v) in spread.into_iter().enumerate() {
        assert_close(f.values.get(0, t), expected(1, 2, v, 0.25, 4.0));
    }
}

#[test]
fn derivatives_run_one_cell_per_source_and_baseline() {
    let g = genes(30);
    let oracle = Mock::new();
    let pairs = all_pairs(0..12, &[20, 21, 22, 23]);
    let progress = Recorder::default();
    let p = params(&Gdt, &[]).unwrap();
    Gdt.features(&request(&p, &g, None, &pairs), &oracle, &progress).unwrap();
    let calls = oracle.calls("derivative");
    assert_eq!(calls.len(), 1);
    assert_eq!((calls[0].cells, calls[0].genes), (12 * 8, 30));
    assert!(oracle.calls("readout").is_empty());
    assert_eq!(*progress.advanced.lock().unwrap(), [48]);

    let oracle = Mock::new();
    let p = params(&Gdt, &[("context", text("pair"))]).unwrap();
    Gdt.features(&request(&p, &g, None, &pairs), &oracle, &NoProgress).unwrap();
    let calls = oracle.calls("derivative");
    assert_eq!(calls.len(), 1);
    assert_eq!((calls[0].cells, calls[0].genes), (48 * 8, 2));
}

#[test]
fn bad_baselines_are_named() {
    let g = genes(2);
    let pairs = [pair(0, 1)];
    let p = params(&Gdt, &[("baselines", floats(&[2.0, 2.0]))]).unwrap();
    let err = Gdt.features(&request(&p, &g, None, &pairs), &Mock::new(), &NoProgress).unwrap_err();
    assert_eq!(err.to_string(), "parameter `baselines`: 2 is listed twice (as the model's f32 input)");
    let err = params(&Gdt, &[("baselines", text("all"))]).unwrap_err();
    assert_eq!(err.to_string(), "parameter `baselines`: expected list of numbers or \"model\", got \"all\"");
}

/// G0..G3 and X (outside the vocabulary) over two cells; the mock prepares 2 × the mean, so the
/// mean cell over G0..G3 is [4, 2, 10, 0] (sum 16).
fn expression() -> (Vec<String>, ugrn_sdk::Expression) {
    let mut g = genes(4);
    g.push("X".into());
    let values = vec![1.0, 3.0, 0.0, 2.0, 5.0, 5.0, 0.0, 0.0, 9.0, 9.0];
    let values = ugrn_sdk::Matrix::new(5, 2, values).unwrap();
    (g, ugrn_sdk::Expression { cell_names: vec!["c1".into(), "c2".into()], values })
}

#[test]
fn mean_cell_takes_the_slope_in_the_datasets_own_state() {
    let (g, x) = expression();
    let mean = [4.0, 2.0, 10.0, 0.0];
    let pairs = [pair(2, 1), pair(0, 3)];
    let p = params(&Gdt, &[("baselines", floats(&[0.0, 5.0])), ("cell", text("mean"))]).unwrap();
    assert!(Gdt.needs_expression(&p));
    let f = Gdt.features(&request(&p, &g, Some(&x), &pairs), &Mock::new(), &NoProgress).unwrap();
    // By hand for (G2 → G1) at 5: the others sum to 16 − 10, so w(1, 2) + 0.02·(6 + 5) = −0.08.
    assert_close(f.values.get(0, 1), -0.08);
    for (row, p) in pairs.iter().enumerate() {
        let others: f64 = 16.0 - mean[p.source];
        for (t, v) in [0.0, 5.0].into_iter().enumerate() {
            let slope = w(p.target as u32, p.source as u32) + 2.0 * ALPHA * (others + v);
            assert_close(f.values.get(row, t), slope);
        }
    }
    // The default is the paper's virtual cell, which needs no expression.
    assert!(!Gdt.needs_expression(&params(&Gdt, &[]).unwrap()));
    let none = Gdt.features(&request(&p, &g, None, &pairs), &Mock::new(), &NoProgress).unwrap_err();
    assert!(none.to_string().contains("has no expression matrix"), "{none}");
}
