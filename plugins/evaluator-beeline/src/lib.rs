//! BEELINE evaluator: AUPRC, AUROC, AUPRC ratio, EP and EPR.
//!
//! AUPRC and AUROC follow scikit-learn's `average_precision_score` and `roc_auc_score`; EP
//! follows BEELINE's `BLEval/computeEarlyPrec.py`. Definitions and deviations are in README.md.
use ugrn_sdk::{Curve, Error, Evaluation, Evaluator, Metric, Params, PluginInfo, PluginKind, Result};

/// The BEELINE metrics over one scored pair set. Higher scores mean more confident edges.
#[derive(Debug, Default)]
pub struct BeelineEvaluator;

impl Evaluator for BeelineEvaluator {
    fn describe(&self) -> PluginInfo {
        PluginInfo {
            name: "evaluator-beeline".into(),
            kind: PluginKind::Evaluator,
            version: env!("CARGO_PKG_VERSION").into(),
            description: "AUPRC (average precision), AUROC, AUPRC ratio, early precision (EP) and EP \
                          ratio, as BEELINE reports them"
                .into(),
            params: Vec::new(),
        }
    }

    fn evaluate(&self, _params: &Params, scores: &[f32], labels: &[bool]) -> Result<Evaluation> {
        evaluate(scores, labels)
    }
}

/// True and false positives at one distinct score threshold, counting every pair whose score is
/// at least that threshold.
#[derive(Debug, Clone, Copy)]
struct Step {
    tp: usize,
    fp: usize,
}

fn evaluate(scores: &[f32], labels: &[bool]) -> Result<Evaluation> {
    if scores.len() != labels.len() {
        return Err(Error::invalid(format!(
            "{} scores for {} labels; the evaluator needs one score per labelled pair",
            scores.len(),
            labels.len()
        )));
    }
    if let Some(i) = scores.iter().position(|s| s.is_nan()) {
        return Err(Error::invalid(format!("score {i} is NaN")));
    }
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return Err(Error::invalid(format!(
            "{positives} positive and {negatives} negative pairs: AUPRC, AUROC and EP need both \
             classes"
        )));
    }

    let mut order: Vec<usize> = (0..scores.len()).collect();
    // total_cmp puts -0.0 just below 0.0, so equal scores stay adjacent and form one step.
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let steps = threshold_steps(scores, labels, &order);

    let (p, n) = (positives as f64, negatives as f64);
    let density = p / (p + n);

    let mut pr = Vec::with_capacity(steps.len() + 1);
    pr.push((0.0, 1.0));
    let mut auprc = 0.0;
    let mut previous_recall = 0.0;
    for s in &steps {
        let recall = s.tp as f64 / p;
        let precision = s.tp as f64 / (s.tp + s.fp) as f64;
        auprc += (recall - previous_recall) * precision;
        previous_recall = recall;
        pr.push((recall, precision));
    }

    let mut roc = Vec::with_capacity(steps.len() + 1);
    roc.push((0.0, 0.0));
    let mut auroc = 0.0;
    let (mut previous_fpr, mut previous_tpr) = (0.0, 0.0);
    for s in &steps {
        let (fpr, tpr) = (s.fp as f64 / n, s.tp as f64 / p);
        auroc += (fpr - previous_fpr) * (tpr + previous_tpr) / 2.0;
        (previous_fpr, previous_tpr) = (fpr, tpr);
        roc.push((fpr, tpr));
    }

    let ep = early_precision(&steps, positives);

    let metric = |name: &str, value: f64| Metric { name: name.into(), value };
    let curve = |name: &str, x: &str, y: &str, points: Vec<(f64, f64)>| Curve {
        name: name.into(),
        x_label: x.into(),
        y_label: y.into(),
        points,
    };
    Ok(Evaluation {
        metrics: vec![
            metric("AUPRC", auprc),
            metric("AUROC", auroc),
            metric("AUPRC ratio", auprc / density),
            metric("EP", ep),
            metric("EPR", ep / density),
            metric("positives", p),
            metric("negatives", n),
        ],
        curves: vec![
            curve("PR", "recall", "precision", pr),
            curve("ROC", "false positive rate", "true positive rate", roc),
        ],
    })
}

/// One step per distinct score, from the highest score down; tied pairs enter together.
fn threshold_steps(scores: &[f32], labels: &[bool], order: &[usize]) -> Vec<Step> {
    let mut steps = Vec::new();
    let (mut tp, mut fp) = (0, 0);
    for (rank, &i) in order.iter().enumerate() {
        if labels[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = order.get(rank + 1).is_none_or(|&next| scores[next] != scores[i]);
        if last_of_tie {
            steps.push(Step { tp, fp });
        }
    }
    steps
}

/// BEELINE's early precision: the precision of every pair scoring at least the k-th highest
/// score, k = the number of true edges, so ties at the cutoff are all kept.
fn early_precision(steps: &[Step], k: usize) -> f64 {
    // Pair counts grow along the steps, and the last step counts every pair (>= k), so the first
    // step reaching k pairs exists: it is the one holding the k-th highest score.
    let cutoff = steps[steps.partition_point(|s| s.tp + s.fp < k)];
    cutoff.tp as f64 / (cutoff.tp + cutoff.fp) as f64
}
