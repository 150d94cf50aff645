//! The loadable `probe-gdt` plugin: the only place its declaration is exported.
ugrn_sdk::export_probe!(plugin::Gdt);
