//! [`ContextTiling`]: `dataset` context over more genes than the model takes in one cell.
use std::ops::Range;

use ugrn_sdk::{Error, Result};

use crate::params::ProbeContext;

/// How the `genes` context genes (in dataset order) are laid into cells of at most
/// `max_context` genes. When they fit, there is one window: every cell holds the whole context.
/// Otherwise they are cut, in dataset order, into `k = ⌈genes / (max_context − 1)⌉` consecutive
/// windows whose sizes differ by at most one, and a source's cells are each window with the
/// source added where it is not in it (in dataset order), so a cell never exceeds the model's
/// context. Every target lies in exactly one window: each pair is read once per variant, in the
/// cell that holds its target. The layout depends only on the two counts, so it is the same on
/// every run, shard and machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextTiling {
    genes: usize,
    windows: usize,
}

impl ContextTiling {
    /// The tiling of `genes` context genes for a model taking `max_context`; a model that takes
    /// fewer than two genes cannot hold a source beside a target.
    pub fn new(genes: usize, max_context: usize) -> Result<ContextTiling> {
        if genes <= max_context {
            return Ok(ContextTiling { genes, windows: 1 });
        }
        if max_context < 2 {
            return Err(Error::param(
                ProbeContext::PARAM,
                format!(
                    "{genes} context genes cannot be tiled into cells of at most {max_context} gene: a cell \
                     holds the source and at least one target"
                ),
            ));
        }
        Ok(ContextTiling { genes, windows: genes.div_ceil(max_context - 1) })
    }

    pub fn windows(&self) -> usize {
        self.windows
    }

    pub fn is_tiled(&self) -> bool {
        self.windows > 1
    }

    /// The context positions of window `w`.
    pub fn window(&self, w: usize) -> Range<usize> {
        self.start(w)..self.start(w + 1)
    }

    /// The window that holds context position `position`.
    pub fn window_of(&self, position: usize) -> usize {
        let mut w = (position * self.windows / self.genes.max(1)).min(self.windows - 1);
        while self.start(w) > position {
            w -= 1;
        }
        while self.start(w + 1) <= position {
            w += 1;
        }
        w
    }

    /// The context positions of `source`'s cell for window `w`, in dataset order, and the
    /// source's position in that cell.
    pub fn cell(&self, source: usize, w: usize) -> (Vec<usize>, usize) {
        let window = self.window(w);
        let mut positions: Vec<usize> = window.clone().collect();
        let at = if window.contains(&source) {
            source - window.start
        } else if source < window.start {
            positions.insert(0, source);
            0
        } else {
            positions.push(source);
            positions.len() - 1
        };
        (positions, at)
    }

    /// One line for a report: what the model sees of a tiled context.
    pub fn describe(&self) -> String {
        if !self.is_tiled() {
            return format!("all {} context genes in every cell", self.genes);
        }
        let (small, large) = (self.genes / self.windows, self.genes.div_ceil(self.windows));
        let sizes = if small == large { format!("{small}") } else { format!("{small}–{large}") };
        format!(
            "{} context genes tiled into {} windows of {sizes} genes: each cell holds one window and the source",
            self.genes, self.windows
        )
    }

    fn start(&self, w: usize) -> usize {
        w * self.genes / self.windows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_that_fits_is_one_window() {
        let t = ContextTiling::new(255, 255).unwrap();
        assert_eq!((t.windows(), t.is_tiled(), t.window(0)), (1, false, 0..255));
        assert_eq!(t.cell(17, 0), ((0..255).collect::<Vec<_>>(), 17));
        assert_eq!(t.describe(), "all 255 context genes in every cell");
    }

    #[test]
    fn windows_cover_every_position_once_and_cells_fit_the_model() {
        for (genes, max) in [(1321, 255), (256, 255), (10, 2), (1000, 1000 - 1), (7, 3), (1200, 1199)] {
            let t = ContextTiling::new(genes, max).unwrap();
            assert_eq!(t.windows(), genes.div_ceil(max - 1), "{genes} genes, max {max}");
            let mut seen = vec![0; genes];
            for w in 0..t.windows() {
                let window = t.window(w);
                assert!(!window.is_empty() && window.len() < max, "{genes}/{max}: window {w} is {window:?}");
                for p in window {
                    seen[p] += 1;
                    assert_eq!(t.window_of(p), w, "{genes}/{max}: position {p}");
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{genes}/{max}: every position in exactly one window");
            for source in [0, genes / 2, genes - 1] {
                for w in 0..t.windows() {
                    let (cell, at) = t.cell(source, w);
                    assert!(cell.len() <= max, "{genes}/{max}: cell of {source} in window {w} has {}", cell.len());
                    assert_eq!(cell[at], source);
                    assert!(cell.windows(2).all(|p| p[0] < p[1]), "dataset order, no repeats: {cell:?}");
                    assert!(t.window(w).all(|p| cell.contains(&p)));
                }
            }
        }
    }

    #[test]
    fn the_mdc_layout_is_six_windows_and_the_source_joins_in_dataset_order() {
        let t = ContextTiling::new(1321, 255).unwrap();
        assert_eq!(t.windows(), 6);
        assert_eq!((t.window(0), t.window(5)), (0..220, 1100..1321));
        assert_eq!(
            t.describe(),
            "1321 context genes tiled into 6 windows of 220–221 genes: each cell holds one window and the source"
        );
        let small = ContextTiling::new(7, 3).unwrap();
        assert_eq!((small.window(0), small.window(1), small.window(2), small.window(3)), (0..1, 1..3, 3..5, 5..7));
        assert_eq!(small.cell(0, 2), (vec![0, 3, 4], 0));
        assert_eq!(small.cell(6, 1), (vec![1, 2, 6], 2));
        assert_eq!(small.cell(4, 2), (vec![3, 4], 1));
    }

    #[test]
    fn a_one_gene_model_cannot_be_tiled() {
        assert_eq!(
            ContextTiling::new(2, 1).unwrap_err().to_string(),
            "parameter `context`: 2 context genes cannot be tiled into cells of at most 1 gene: a cell holds the \
             source and at least one target"
        );
        assert_eq!(ContextTiling::new(1, 1).unwrap().windows(), 1);
    }
}
