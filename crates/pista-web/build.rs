//! Rebuilds the crate when a file under `ui/` is added, changed or removed: the UI is compiled
//! into the binary (`src/ui.rs`), and the compiler alone notices only changes to files it
//! already embeds.

fn main() {
    println!("cargo:rerun-if-changed=ui");
}
