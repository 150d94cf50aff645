//! Times the streamed per-gene means of an h5ad's X over every cell (what `ugrn infer` computes
//! for a mean cell), without a dense copy: `h5ad-means FILE`. Peak memory is measured outside
//! (e.g. `/usr/bin/time -v`).
use std::time::Instant;

use anyhow::Context;
use ugrn::data::H5adExpression;

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).context("usage: h5ad-means FILE")?;
    let start = Instant::now();
    let x = H5adExpression::open(path.as_ref(), None)?;
    let opened = start.elapsed().as_secs_f64();
    let genes: Vec<usize> = (0..x.genes().len()).collect();
    let all: Vec<usize> = (0..x.cells()).collect();
    let means = x.group_means(&genes, &[all])?;
    let total: f64 = means[0].iter().map(|&m| m as f64).sum();
    println!(
        "{path}: {} genes × {} cells; opened in {opened:.1} s, means of every gene in {:.1} s (sum of means {total:.3})",
        x.genes().len(),
        x.cells(),
        start.elapsed().as_secs_f64() - opened
    );
    Ok(())
}
