//! Rebuilds the `weaver` crate when the dashboard build (`haro/dist`) changes, so a release
//! binary embeds the current dashboard. rust-embed tracks the files it embedded, but not files
//! that appear later (new hashed names, or a first build after compiling without one).
//! Debug builds read `haro/dist` from disk at run time, but only if it existed when they were
//! compiled (rust-embed leaves the set empty otherwise): they are rebuilt once when it appears.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // `sqlx::migrate!` embeds the migrations; a new one must rebuild the crate on stable Rust.
    println!("cargo:rerun-if-changed=../migrations");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    // Watching a path that does not exist would rerun this on every build: watch haro/ until
    // dist/ exists (creating it changes haro/), then dist/ itself (release only: a debug build
    // reads the files it finds at run time).
    if !std::path::Path::new("../haro/dist").is_dir() {
        println!("cargo:rerun-if-changed=../haro");
    } else if release {
        println!("cargo:rerun-if-changed=../haro/dist");
    }
}
