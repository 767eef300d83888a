//! Enables the Cortex-M4 kernels (`cfg(arm_dsp)`) when building for an
//! Armv7E-M target (`thumbv7em-*`: Cortex-M4/M7, with the DSP extension's
//! SMLAD and SXTB16). Decided from the target name because stable rustc does
//! not expose the `dsp` target feature to `cfg`. Likewise `cfg(armv6m)`
//! for `thumbv6m-*` (Cortex-M0/M0+), which selects the Thumb-1 kernels.

fn main() {
    println!("cargo:rustc-check-cfg=cfg(arm_dsp)");
    println!("cargo:rustc-check-cfg=cfg(armv6m)");
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("thumbv7em") {
        println!("cargo:rustc-cfg=arm_dsp");
    }
    // Armv6-M (Cortex-M0/M0+, the Pico): the Thumb-1 kernels.
    if target.starts_with("thumbv6m") {
        println!("cargo:rustc-cfg=armv6m");
    }
}
