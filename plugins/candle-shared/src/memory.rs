//! How the process's allocator treats the activations of a CPU forward pass.
//!
//! A pass allocates and frees tensors of tens to hundreds of MiB per layer (attention maps of
//! heads × tokens² per cell). glibc serves every allocation above its mmap threshold (at most
//! 32 MiB) with a fresh mapping and unmaps it on free, so each one costs page faults and the
//! kernel zeroing every page again: a quarter of the CPU time of a 1,200-token pass went there.
//! Served from the heap instead, freed blocks are reused by the next layer.
use std::sync::Once;

/// Makes glibc's malloc serve large blocks from its heap and keep freed memory for reuse (up to
/// 2 GiB free at the heap's top before it returns memory to the system). Process-wide and set
/// once; resident memory then stays near the largest pass's peak instead of falling between
/// passes. Does nothing where the C library is not glibc.
pub fn reuse_freed_memory() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes malloc's parameters; both values are in range.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        }
    });
}
