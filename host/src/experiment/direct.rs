//! Direct scores: a method without translator takes its probe's single feature as the score.
use super::Runner;
use super::prepare::Prepared;
use crate::report::Outcome;
use crate::workflow::{DirectScore, ResolvedPlugin};

/// `probe`'s feature (or its absolute value) on each test set; not applicable where the probe
/// gives more than one column. Stops early after a sandbox stop.
pub(super) fn scores(
    runner: &mut Runner<'_>,
    timed_as: &str,
    tests: &[Prepared],
    probe: &ResolvedPlugin,
    score: DirectScore,
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for test in tests {
        if runner.stopped.is_some() {
            break;
        }
        let outcome = match runner.features(timed_as, probe, &test.dataset, &test.set.pairs) {
            Ok(f) if f.values.cols == 1 => Outcome::Scores(
                f.values.data.iter().map(|&v| if score == DirectScore::AbsFeature { v.abs() } else { v }).collect(),
            ),
            Ok(f) => Outcome::NotApplicable(format!(
                "{} gives {} feature columns; a direct score needs exactly one",
                probe.plugin, f.values.cols
            )),
            Err(e) => runner.outcome(e),
        };
        outcomes.push(outcome);
    }
    outcomes
}
