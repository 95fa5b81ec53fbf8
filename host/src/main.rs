//! The `weaver` binary: parse the command line, set up logging, dispatch to the library.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = weaver::cli::Cli::parse();
    weaver::cli::init_logging(&cli.log, cli.log_format);
    weaver::cli::run(cli)
}
