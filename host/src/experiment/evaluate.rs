//! Evaluate: the evaluator on every outcome with scores, making the report's rows.
use std::collections::BTreeMap;

use ugrn_sdk::{Evaluation, Evaluator};

use super::Runner;
use super::prepare::Prepared;
use crate::plugin::Hosted;
use crate::report::{Outcome, Row};

/// One row per test set of `network`, each method's outcome (`outcomes[test][method]`) with its
/// evaluation against the set's labels. A sandbox stop ends the run.
pub(super) fn rows(
    runner: &mut Runner<'_>,
    evaluator: &Hosted<dyn Evaluator>,
    network: &str,
    tests: Vec<Prepared>,
    outcomes: Vec<BTreeMap<String, Outcome>>,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (test, outcome) in tests.into_iter().zip(outcomes) {
        let mut evaluations = BTreeMap::new();
        for (method, o) in outcome {
            if runner.stopped.is_some() {
                break;
            }
            let evaluated = match o {
                Outcome::Scores(scores) => evaluate(runner, evaluator, scores, &test.set.labels),
                other => (other, None),
            };
            evaluations.insert(method, evaluated);
        }
        runner.check_stopped()?;
        rows.push(Row {
            network: network.to_string(),
            dataset: test.dataset,
            set: test.set,
            notes: test.notes,
            evaluations,
        });
    }
    Ok(rows)
}

/// The scores with their evaluation, or the evaluator's refusal in their place.
fn evaluate(
    runner: &mut Runner<'_>,
    evaluator: &Hosted<dyn Evaluator>,
    scores: Vec<f32>,
    labels: &[bool],
) -> (Outcome, Option<Evaluation>) {
    match evaluator.evaluate(&runner.workflow.evaluator.params, &scores, labels) {
        Ok(e) => (Outcome::Scores(scores), Some(e)),
        Err(e) => {
            let outcome = match runner.outcome(e.into()) {
                Outcome::NotApplicable(reason) => Outcome::NotApplicable(format!("evaluation: {reason}")),
                Outcome::Failed(reason) => Outcome::Failed(format!("evaluation failed: {reason}")),
                other => other,
            };
            (outcome, None)
        }
    }
}
