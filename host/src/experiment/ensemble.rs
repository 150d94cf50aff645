//! Ensembles: the mean of their members' logits.
use std::collections::BTreeMap;

use crate::report::Outcome;

/// The mean of `members`' logits on each test set (`logits[test][method]`); not applicable
/// where a member has none.
pub(super) fn mean(members: &[String], logits: &[BTreeMap<String, Vec<f32>>]) -> Vec<Outcome> {
    logits
        .iter()
        .map(|by_method| {
            let parts: Vec<&Vec<f32>> = members.iter().filter_map(|m| by_method.get(m)).collect();
            if parts.len() == members.len() {
                let n = parts[0].len();
                Outcome::Scores((0..n).map(|i| parts.iter().map(|p| p[i]).sum::<f32>() / parts.len() as f32).collect())
            } else {
                Outcome::NotApplicable(format!("needs every member ({}) to have scores", members.join(", ")))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ensemble_averages_its_members_or_says_which_it_needs() {
        let members = vec!["A".to_string(), "B".to_string()];
        let both = BTreeMap::from([("A".to_string(), vec![1.0, 2.0]), ("B".to_string(), vec![3.0, 0.0])]);
        let one = BTreeMap::from([("A".to_string(), vec![1.0])]);
        match &mean(&members, &[both, one])[..] {
            [Outcome::Scores(scores), Outcome::NotApplicable(reason)] => {
                assert_eq!(scores, &[2.0, 1.0]);
                assert_eq!(reason, "needs every member (A, B) to have scores");
            }
            other => panic!("{other:?}"),
        }
    }
}
