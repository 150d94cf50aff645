//! `ugrn-probe-kit`: cells for the counterfactual probes (VVP, GDT, Pert, Attn), built in one place.
//!
//! Every such probe asks the same question: for each pair (source i, target j), run a few cells
//! that differ only in the source's input value (the probe's [`Variant`]s) and read the model's
//! answer at the target. [`CellPlan`] resolves a request's genes to tokens once, lays the cells
//! out for the chosen [`ProbeContext`], splits the work into chunks (bounded memory, steady
//! progress) and puts each pair's values back in request order.
//!
//! - `dataset` context: every gene of the dataset that is in the vocabulary is in every cell.
//!   The cells of a source serve all of its targets, so a chunk holds one cell per (source,
//!   variant); the unchanged cell does not depend on the source and is shared by the chunk.
//!   A context longer than the model takes is tiled ([`ContextTiling`]): a source's cells are
//!   one per window of the context, each holding the window and the source.
//! - `pair` context: a cell holds only the source and the target (only the source for a
//!   self-pair), so the pairs of a chunk pack into one batch of short cells.
//!
//! Not part of the plugin contract (`ugrn-sdk`): a probe may use it or build its cells itself.
//! With the `testing` feature, `testing` holds what the probes' tests share: a mock oracle and
//! the scGPT reference fixture.
mod cells;
mod genes;
mod params;
mod plan;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(test)]
mod tests;
mod tiling;

pub use cells::{BaseCell, BaseValues, CellChoice, ChunkCells, ReadSite, Variant};
pub use genes::{SourceGroup, group_by_source, pair_tokens};
pub use params::{ProbeContext, RangeSpread, VALUE_BOUND, value_list_param, value_param};
pub use plan::{CellPlan, PAIRS_PER_CHUNK, SOURCES_PER_CHUNK};
pub use tiling::ContextTiling;
