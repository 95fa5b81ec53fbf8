//! The `weaver` binary: parse the command line, set up logging, dispatch to the library.

use clap::Parser;

// Every allocation of the process, Rust's and C's (SQLite's), goes to jemalloc (feature
// `jemalloc`, on by default and in the production build); why in docs/adr/0015-jemalloc.md.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    let cli = weaver::cli::Cli::parse();
    weaver::cli::init_logging(&cli.log, cli.log_format);
    weaver::cli::run(cli)
}
