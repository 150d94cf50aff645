//! The loadable `translator-mlp` plugin: the only place its declaration is exported.
ugrn_sdk::export_translator!(plugin::MlpTranslator);
