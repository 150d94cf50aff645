use ugrn_evaluator_beeline::BeelineEvaluator;
use ugrn_sdk::{Error, Evaluation, Evaluator, Params};

fn evaluate(scores: &[f32], labels: &[u8]) -> ugrn_sdk::Result<Evaluation> {
    let labels: Vec<bool> = labels.iter().map(|&l| l == 1).collect();
    let params = Params::defaults(&BeelineEvaluator.describe().params);
    BeelineEvaluator.evaluate(&params, scores, &labels)
}

fn metric(e: &Evaluation, name: &str) -> f64 {
    e.metric(name).unwrap_or_else(|| panic!("metric {name} missing"))
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!((actual - expected).abs() < 1e-12, "{what}: {actual} != {expected}");
}

fn assert_points(actual: &[(f64, f64)], expected: &[(f64, f64)], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: {actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert_close(a.0, e.0, what);
        assert_close(a.1, e.1, what);
    }
}

fn curve<'a>(e: &'a Evaluation, name: &str) -> &'a [(f64, f64)] {
    &e.curves.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("curve {name} missing")).points
}

#[test]
fn hand_computed_with_a_tie() {
    // P = 3, N = 2, density 3/5. Distinct thresholds from the top, with (TP, FP):
    //   0.9 → (1, 0)   0.8 (two pairs, one true) → (2, 1)   0.3 → (2, 2)   0.1 → (3, 2)
    // precision 1, 2/3, 1/2, 3/5; recall 1/3, 2/3, 2/3, 1.
    // AP = 1/3·1 + 1/3·2/3 + 0·1/2 + 1/3·3/5 = 1/3 + 2/9 + 1/5 = 34/45.
    // AUROC, Mann–Whitney: positives 0.9, 0.8, 0.1 against negatives 0.8, 0.3:
    //   0.9 beats both (2), 0.8 ties 0.8 (½) and beats 0.3 (1), 0.1 beats none → 3.5 / 6 = 7/12.
    // EP: k = 3, the 3rd highest score is 0.8; pairs ≥ 0.8 are 0.9, 0.8, 0.8 with 2 true → 2/3.
    let e = evaluate(&[0.9, 0.8, 0.8, 0.3, 0.1], &[1, 0, 1, 0, 1]).unwrap();
    assert_close(metric(&e, "AUPRC"), 34.0 / 45.0, "AUPRC");
    assert_close(metric(&e, "AUROC"), 7.0 / 12.0, "AUROC");
    assert_close(metric(&e, "AUPRC ratio"), 34.0 / 45.0 / 0.6, "AUPRC ratio");
    assert_close(metric(&e, "EP"), 2.0 / 3.0, "EP");
    assert_close(metric(&e, "EPR"), 2.0 / 3.0 / 0.6, "EPR");
    assert_eq!(metric(&e, "positives"), 3.0);
    assert_eq!(metric(&e, "negatives"), 2.0);
    assert_points(
        curve(&e, "PR"),
        &[(0.0, 1.0), (1.0 / 3.0, 1.0), (2.0 / 3.0, 2.0 / 3.0), (2.0 / 3.0, 0.5), (1.0, 0.6)],
        "PR",
    );
    assert_points(
        curve(&e, "ROC"),
        &[(0.0, 0.0), (0.0, 1.0 / 3.0), (0.5, 2.0 / 3.0), (1.0, 2.0 / 3.0), (1.0, 1.0)],
        "ROC",
    );
}

#[test]
fn ties_at_the_early_precision_cutoff_are_all_kept() {
    // k = 2 true edges; the 2nd highest score 0.5 is shared by three pairs, so BEELINE keeps
    // all four pairs scoring ≥ 0.5, of which 2 are true: EP = 1/2, not the 1/1 or 2/2 that
    // breaking the tie by position could give. Density 2/5, so EPR = 5/4.
    let e = evaluate(&[0.9, 0.5, 0.5, 0.5, 0.2], &[1, 0, 1, 0, 0]).unwrap();
    assert_close(metric(&e, "EP"), 0.5, "EP");
    assert_close(metric(&e, "EPR"), 1.25, "EPR");
    // Steps (TP, FP): 0.9 → (1, 0), 0.5 → (2, 2), 0.2 → (2, 3).
    // AP = 1/2·1 + 1/2·2/4 = 3/4; AUROC: 0.9 beats 3 (3), 0.5 ties two (1) and beats one (1) → 5/6.
    assert_close(metric(&e, "AUPRC"), 0.75, "AUPRC");
    assert_close(metric(&e, "AUROC"), 5.0 / 6.0, "AUROC");
}

#[test]
fn matches_scikit_learn_on_signed_scores_with_ties() {
    // Reference values from scikit-learn 1.9.1 (run once, pasted here):
    //   average_precision_score(l, s) = 0.545959595959596
    //   roc_auc_score(l, s)           = 0.6979166666666666
    // with s cast through float32 as the evaluator receives it. -0.0 and 0.0 are one tie.
    let s =
        [2.5, -1.0, 0.0, -0.0, 0.7, 0.7, 0.7, -3.2, 1.1, 0.7, -1.0, 4.0, 0.0, -2.2, 1.1, 0.25, -1.0, 3.3, 0.25, -0.5];
    let l = [1, 0, 1, 0, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0];
    let e = evaluate(&s, &l).unwrap();
    assert_close(metric(&e, "AUPRC"), 0.545959595959596, "AUPRC");
    assert_close(metric(&e, "AUROC"), 0.6979166666666666, "AUROC");
    // precision_recall_curve, reversed so recall rises (sklearn's own arrays, same run).
    let pr = [
        (0.0, 1.0),
        (0.0, 0.0),
        (0.125, 0.5),
        (0.25, 2.0 / 3.0),
        (0.375, 0.6),
        (0.625, 5.0 / 9.0),
        (0.75, 6.0 / 11.0),
        (0.875, 0.5),
        (0.875, 7.0 / 15.0),
        (1.0, 4.0 / 9.0),
        (1.0, 8.0 / 19.0),
        (1.0, 0.4),
    ];
    assert_points(curve(&e, "PR"), &pr, "PR");
    // k = 8: the 8th highest score is 0.7 (ranks 6–9), so 9 pairs are kept, 5 of them true.
    assert_close(metric(&e, "EP"), 5.0 / 9.0, "EP");
    assert_close(metric(&e, "EPR"), 5.0 / 9.0 / 0.4, "EPR");
    assert_close(metric(&e, "AUPRC ratio"), 0.545959595959596 / 0.4, "AUPRC ratio");
}

#[test]
fn perfect_and_reversed_rankings() {
    let e = evaluate(&[4.0, 3.0, 2.0, 1.0], &[1, 1, 0, 0]).unwrap();
    assert_close(metric(&e, "AUPRC"), 1.0, "AUPRC");
    assert_close(metric(&e, "AUROC"), 1.0, "AUROC");
    assert_close(metric(&e, "EPR"), 2.0, "EPR");
    // Reversed: AP = 1/2·1/3 + 1/2·2/4 = 5/12, AUROC 0, EP 0.
    let e = evaluate(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 0, 0]).unwrap();
    assert_close(metric(&e, "AUPRC"), 5.0 / 12.0, "AUPRC");
    assert_close(metric(&e, "AUROC"), 0.0, "AUROC");
    assert_close(metric(&e, "EP"), 0.0, "EP");
}

#[test]
fn all_scores_tied_is_the_random_predictor() {
    // One threshold step holding everything: AP = density, AUROC = 1/2, EP = density, EPR = 1.
    let e = evaluate(&[0.3; 5], &[1, 0, 0, 1, 0]).unwrap();
    assert_close(metric(&e, "AUPRC"), 0.4, "AUPRC");
    assert_close(metric(&e, "AUPRC ratio"), 1.0, "AUPRC ratio");
    assert_close(metric(&e, "AUROC"), 0.5, "AUROC");
    assert_close(metric(&e, "EP"), 0.4, "EP");
    assert_close(metric(&e, "EPR"), 1.0, "EPR");
}

#[test]
fn bad_input_is_rejected_with_the_reason() {
    let err = evaluate(&[0.1, 0.2], &[1, 0, 1]).unwrap_err();
    assert_eq!(err, Error::Invalid("2 scores for 3 labels; the evaluator needs one score per labelled pair".into()));
    let err = evaluate(&[0.1, f32::NAN, 0.3], &[1, 0, 1]).unwrap_err();
    assert_eq!(err.to_string(), "invalid input: score 1 is NaN");
    let err = evaluate(&[0.1, 0.2], &[0, 0]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: 0 positive and 2 negative pairs: AUPRC, AUROC and EP need both classes"
    );
    let err = evaluate(&[0.1, 0.2], &[1, 1]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: 2 positive and 0 negative pairs: AUPRC, AUROC and EP need both classes"
    );
}

#[test]
fn describes_itself_without_parameters() {
    let info = BeelineEvaluator.describe();
    assert_eq!(info.name, "evaluator-beeline");
    assert_eq!(info.kind, ugrn_sdk::PluginKind::Evaluator);
    assert!(info.params.is_empty());
}
