//! Rebuilds the `weaver` crate when the dashboard build (`haro/dist`) changes, so a release
//! binary embeds the current dashboard. rust-embed tracks the files it embedded, but not files
//! that appear later (new hashed names, or a first build after compiling without one).
//! Debug builds read `haro/dist` from disk at run time and need no rebuild.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("PROFILE").as_deref() != Ok("release") {
        return;
    }
    // Watching a path that does not exist would rerun this on every build: watch haro/ until
    // dist/ exists (creating it changes haro/), then dist/ itself.
    if std::path::Path::new("../haro/dist").is_dir() {
        println!("cargo:rerun-if-changed=../haro/dist");
    } else {
        println!("cargo:rerun-if-changed=../haro");
    }
}
