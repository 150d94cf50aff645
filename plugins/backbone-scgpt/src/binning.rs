//! scGPT's per-cell value binning (`binning` in `scgpt/preprocess.py`).
//!
//! The non-zero values of a cell are digitised into `n_bins - 1` bins by their own quantiles
//! (numpy's linear interpolation), so bins run 1..=n_bins-1; zeros stay 0.

/// numpy's `_lerp`: exact at both ends.
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff = b - a;
    if t >= 0.5 { b - diff * (1.0 - t) } else { a + diff * t }
}

/// `np.quantile(sorted, qs)` with the default linear method; `sorted` is non-empty, ascending.
fn quantiles(sorted: &[f64], count: usize) -> Vec<f64> {
    let last = (sorted.len() - 1) as f64;
    let step = 1.0 / (count - 1) as f64;
    (0..count)
        .map(|k| {
            // `np.linspace` sets its last point to exactly 1.
            let q = if k + 1 == count { 1.0 } else { k as f64 * step };
            let pos = q * last;
            let lo = pos.floor();
            let i = lo as usize;
            if i + 1 >= sorted.len() { sorted[sorted.len() - 1] } else { lerp(sorted[i], sorted[i + 1], pos - lo) }
        })
        .collect()
}

/// Bins one cell's expression `row` (non-negative, in any units) into `0..=n_bins-1`.
///
/// Where a value equals several identical quantile edges (ties), scGPT 0.2.4 draws its bin at
/// random among them; this takes the middle of those bins (rounded up) so that the result is
/// deterministic. Elsewhere the bins are scGPT's exactly.
pub fn bin_expression(row: &[f32], n_bins: usize) -> Result<Vec<f32>, String> {
    if let Some((i, v)) = row.iter().enumerate().find(|(_, v)| !v.is_finite() || **v < 0.0) {
        return Err(format!("expression value {v} at position {i}: binning needs finite, non-negative values"));
    }
    let mut non_zero: Vec<f64> = row.iter().filter(|&&v| v != 0.0).map(|&v| v as f64).collect();
    if non_zero.is_empty() {
        return Ok(vec![0.0; row.len()]);
    }
    non_zero.sort_by(f64::total_cmp);
    let edges = quantiles(&non_zero, n_bins - 1);
    Ok(row
        .iter()
        .map(|&v| {
            if v == 0.0 {
                return 0.0;
            }
            let v = v as f64;
            // np.digitize(v, edges) and np.digitize(v, edges, right=True).
            let left = edges.partition_point(|&e| e <= v);
            let right = edges.partition_point(|&e| e < v);
            let digit = if left > right { (left + right + 2) / 2 } else { left };
            digit as f32
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_bins() {
        // Non-zero values 1, 2, 3, 4, 10; n_bins = 5 gives edges at the 0, 1/3, 2/3, 1
        // quantiles: 1, 2 + 1/3, 3 + 2/3, 10.
        let binned = bin_expression(&[0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 10.0], 5).unwrap();
        assert_eq!(binned, [0.0, 1.0, 1.0, 2.0, 3.0, 0.0, 4.0]);
    }

    #[test]
    fn quantiles_match_numpy() {
        // np.quantile([1, 2, 3, 4, 10], np.linspace(0, 1, 4))
        let q = quantiles(&[1.0, 2.0, 3.0, 4.0, 10.0], 4);
        let expected = [1.0, 7.0 / 3.0, 11.0 / 3.0, 10.0];
        for (a, b) in q.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{q:?}");
        }
    }

    #[test]
    fn matches_numpy_digitize() {
        // np.digitize(nz, np.quantile(nz, np.linspace(0, 1, 10))) with numpy 2.4 for the
        // non-zero values of this row (11 bins); 1.1, the minimum and the maximum sit exactly on
        // one edge each, where scGPT's draw is deterministic too.
        let row = [0.0, 0.5, 3.2, 0.0, 1.1, 7.9, 2.2, 0.05, 4.4, 0.0, 9.6, 1.1, 6.3, 2.9, 0.7, 5.5, 0.0, 3.3, 8.1, 0.2];
        let expected =
            [0.0, 2.0, 5.0, 0.0, 4.0, 8.0, 4.0, 1.0, 7.0, 0.0, 10.0, 4.0, 8.0, 5.0, 2.0, 7.0, 0.0, 6.0, 9.0, 1.0];
        assert_eq!(bin_expression(&row, 11).unwrap(), expected);
    }

    #[test]
    fn ties_take_the_middle_bin() {
        // Sorted 1, 5, 5, 5, 5: edges 1, 5, 5, 5. A 5 sits on edges 2..=4, which scGPT spreads
        // over bins 2, 3 and 4 at random; the middle is 3.
        assert_eq!(bin_expression(&[5.0, 5.0, 1.0, 5.0, 5.0], 5).unwrap(), [3.0, 3.0, 1.0, 3.0, 3.0]);
    }

    #[test]
    fn full_range_with_scgpt_bins() {
        let row: Vec<f32> = (0..=100).map(|i| i as f32 * 0.25).collect();
        let binned = bin_expression(&row, 51).unwrap();
        assert_eq!(binned[0], 0.0);
        assert_eq!(binned[1], 1.0);
        assert_eq!(binned[100], 50.0);
        assert!(binned.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn zeros_and_bad_values() {
        assert_eq!(bin_expression(&[0.0, 0.0], 51).unwrap(), [0.0, 0.0]);
        assert_eq!(
            bin_expression(&[1.0, -0.5], 51).unwrap_err(),
            "expression value -0.5 at position 1: binning needs finite, non-negative values"
        );
        assert!(bin_expression(&[f32::NAN], 51).unwrap_err().starts_with("expression value NaN at position 0"));
    }
}
