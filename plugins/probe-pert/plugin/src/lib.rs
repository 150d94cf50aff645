//! The loadable `probe-pert` plugin: the only place its declaration is exported.
ugrn_sdk::export_probe!(plugin::Pert);
