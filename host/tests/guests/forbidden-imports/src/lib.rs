//! A strategy that reaches for capabilities strategies don't get: files, sockets, the wall
//! clock and randomness. Marvin must refuse to load it (`unsupported_import`, listing them).

use weaver_strategy_sdk::{
    Config, Context, LogLevel, Result, Strategy, SymbolBar, export_strategy,
};

/// The strategy.
pub struct Forbidden;

impl Strategy for Forbidden {
    fn init(_config: &Config) -> Result<Self> {
        Ok(Forbidden)
    }

    fn on_bar(&mut self, ctx: &mut Context, _bar: &SymbolBar) -> Result<()> {
        let secret = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let online = std::net::TcpStream::connect("198.51.100.1:80").is_ok();
        let now = std::time::SystemTime::now();
        let mut seen = std::collections::HashMap::new();
        seen.insert(secret.len(), online);
        ctx.log(LogLevel::Info, format!("{now:?} {seen:?}"));
        Ok(())
    }
}

export_strategy!(Forbidden);
