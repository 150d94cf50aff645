//! The loadable `backbone-geneformer` plugin: the only place its declaration is exported.
ugrn_sdk::export_backbone!(plugin::Geneformer);
