//! The loadable `evaluator-beeline` plugin: the only place its declaration is exported.
ugrn_sdk::export_evaluator!(plugin::BeelineEvaluator);
