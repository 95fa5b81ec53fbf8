// TEMPORARY hand stub until `npm run gen:api` can run.
export interface components {
  schemas: {
    ErrorBody: { code: string; message: string; details: Record<string, never>; correlation_id: string }
    StrategyView: { id: number; name: string; version: string; sha256: string; size_bytes: number; status: 'uploaded' | 'compiling' | 'ready' | 'rejected'; error?: string | null; created_at: string; updated_at: string }
    BacktestView: { id: number; status: string; error?: string | null; report?: Record<string, never> | null; config: Record<string, never>; created_at: string }
    BacktestRequest: { strategy: number | string; symbols: string[]; timeframe: string; start?: string | null; end?: string | null; cash?: number | null; commission?: number | null; fill?: 'next_open' | 'close' | null; params?: Record<string, never> | null }
    CandleView: { ts: string; open: number; high: number; low: number; close: number; volume: number }
    UiEvent: { cursor: string; type: string; ts: string; run_id?: string | null; data: Record<string, never> }
    RunRequest: { strategy: number | string; mode: string; venue: string; symbols: string[]; timeframe: string; params?: Record<string, never> | null }
    RunFigures: { order_intents: number; orders_placed?: number | null; calls: number; bars: number; fuel_total: number; fuel_per_event: number; fuel_max: number; peak_memory_bytes: number; traps: number }
    RunView: { id: number; strategy_id: number; mode: string; venue: string; symbols: string[]; timeframe: string; status: string; error_code?: string | null; figures?: components['schemas']['RunFigures'] | null; created_at: string }
  }
}
