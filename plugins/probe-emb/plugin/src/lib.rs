//! The loadable `probe-emb` plugin: the only place its declaration is exported.
ugrn_sdk::export_probe!(plugin::Emb);
