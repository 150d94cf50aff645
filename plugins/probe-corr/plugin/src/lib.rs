//! The loadable `probe-corr` plugin: the only place its declaration is exported.
ugrn_sdk::export_probe!(plugin::Corr);
