//! Lets a probe's tests and benches link other plugins' rlibs (the scGPT backbone, the other
//! probes): every plugin rlib defines the exported `UGRN_PLUGIN_DECLARATION`, which tests and
//! benches never read, so which copy the linker keeps does not matter there. Plugin builds are
//! untouched. Shared by the five probe crates; cargo runs it in the crate's own folder.
fn main() {
    println!("cargo:rustc-link-arg-tests=-Wl,--allow-multiple-definition");
    // Cargo refuses bench link arguments for a crate without benches.
    if std::path::Path::new("benches").is_dir() {
        println!("cargo:rustc-link-arg-benches=-Wl,--allow-multiple-definition");
    }
}
