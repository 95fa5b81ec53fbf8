import { describe, expect, it } from 'vitest'
import type { RiskLimits } from '../api/types'
import { fieldOfError, LIMITS, riskPatch, riskSummary, riskWhole, showLimit, stateReason, valuesOf } from './risk'

const OFF: RiskLimits = {
  max_notional_per_order: null, max_position_per_symbol: null, max_gross_exposure: null, max_open_orders: null,
  max_orders_per_minute: null, max_order_quantity: null, max_price_deviation: null, max_order_equity_pct: null,
  daily_loss_pct: null, max_drawdown_pct: null, cooldown: null, allowed_symbols: null,
  daily_loss_action: 'reduce_only', drawdown_action: 'halted', reset_next_session: false,
}
const SOME: RiskLimits = { ...OFF, max_notional_per_order: '1000', daily_loss_pct: '5', allowed_symbols: ['GOOG'],
  cooldown: { losing_trades: 3, window_minutes: 60, pause_minutes: 30 }, max_open_orders: 50 }

describe('limits', () => {
  it('lists every key of the API once', () => {
    expect(LIMITS.map((d) => d.key).sort()).toEqual(Object.keys(OFF).sort())
  })

  it('shows off where null, and each kind in words', () => {
    const show = (k: keyof RiskLimits) => showLimit(LIMITS.find((d) => d.key === k)!, SOME[k])
    expect(show('max_gross_exposure')).toBe('off')
    expect(show('max_notional_per_order')).toBe('1000')
    expect(show('allowed_symbols')).toBe('GOOG')
    expect(show('cooldown')).toBe('3 losing trades in 60 min → pause 30 min')
    expect(show('daily_loss_action')).toBe('reduce-only')
    expect(show('reset_next_session')).toBe('no')
  })

  it('an unchanged form patches nothing', () => {
    expect(riskPatch(SOME, valuesOf(SOME))).toEqual({ ok: true, patch: {} })
    expect(riskPatch(OFF, valuesOf(OFF))).toEqual({ ok: true, patch: {} })
  })

  it('sends only the changed keys; a cleared field is null (off)', () => {
    const v = valuesOf(SOME)
    v.max_notional_per_order = '20000'
    v.daily_loss_pct = ''
    v.max_open_orders = '10'
    v['cooldown.losing_trades'] = ''
    v['cooldown.window_minutes'] = ''
    v['cooldown.pause_minutes'] = ''
    v.drawdown_action = 'reduce_only'
    v.reset_next_session = 'true'
    v.allowed_symbols = 'goog, aapl'
    expect(riskPatch(SOME, v)).toEqual({ ok: true, patch: {
      max_notional_per_order: '20000', daily_loss_pct: null, max_open_orders: 10, cooldown: null,
      drawdown_action: 'reduce_only', reset_next_session: true, allowed_symbols: ['GOOG', 'AAPL'],
    } })
  })

  it('treats equal decimals as unchanged', () => {
    const v = valuesOf(SOME)
    v.max_notional_per_order = '1000.00'
    expect(riskPatch(SOME, v)).toEqual({ ok: true, patch: {} })
  })

  it('refuses what is not a number, and a partial cooldown', () => {
    const v = valuesOf(OFF)
    v.max_notional_per_order = 'lots'
    v.max_open_orders = '1.5'
    v['cooldown.losing_trades'] = '3'
    const r = riskPatch(OFF, v)
    expect(r.ok).toBe(false)
    expect(!r.ok && Object.keys(r.errors).sort()).toEqual(['cooldown', 'max_notional_per_order', 'max_open_orders'])
  })

  it('limits the patch to some keys (the run form)', () => {
    const v = { daily_loss_pct: '3', max_notional_per_order: '1000' }
    expect(riskPatch({}, v, ['daily_loss_pct'])).toEqual({ ok: true, patch: { daily_loss_pct: '3' } })
  })

  it('describes the whole object for a replace: the keys set, none of those left empty', () => {
    const v = valuesOf(SOME)
    expect(riskWhole(v)).toEqual({
      ok: true,
      risk: {
        max_notional_per_order: '1000', max_open_orders: 50, allowed_symbols: ['GOOG'], daily_loss_pct: '5',
        daily_loss_action: 'reduce_only', reset_next_session: false, drawdown_action: 'halted',
        cooldown: { losing_trades: 3, window_minutes: 60, pause_minutes: 30 },
      },
    })
    // Only the keys asked for (a broker account has no cooldown); a bad value is an error.
    const r = riskWhole({ ...v, max_open_orders: '' }, LIMITS.map((d) => d.key).filter((k) => k !== 'cooldown'))
    expect(r.ok && Object.keys(r.risk)).toEqual(['max_notional_per_order', 'allowed_symbols', 'daily_loss_pct', 'daily_loss_action', 'reset_next_session', 'drawdown_action'])
    expect(riskWhole({ ...v, daily_loss_pct: 'x' })).toEqual({ ok: false, errors: { daily_loss_pct: 'a number, or empty for off' } })
  })

  it("reads the key a 422 names", () => {
    expect(fieldOfError({ field: 'risk.daily_loss_pct' })).toBe('daily_loss_pct')
    expect(fieldOfError({ field: 'risk.cooldown.pause_minutes' })).toBe('cooldown')
    expect(fieldOfError({ field: 'daily_loss_pct' })).toBe('daily_loss_pct')
    expect(fieldOfError({ field: 'risk' })).toBeNull()
    expect(fieldOfError(null)).toBeNull()
  })
})

describe('stateReason', () => {
  const breach = { rule: 'max_drawdown_pct', figure: '21.5', limit: '20', state: 'halted', ts: '2024-03-01T00:00:00Z', until: null }
  const rs = { peak_equity: '10000', last_equity: '7850', session_start: null, session_equity: null, daily_loss: null,
    drawdown: breach, cooldown: null, losses: [], orders: [], manual: 'active' }
  it('names the breach in force', () => {
    expect(stateReason('halted', rs)).toEqual({ breaches: [breach], byHand: false, cooldown: null })
  })
  it('says set by hand', () => {
    expect(stateReason('reduce_only', { ...rs, drawdown: null, manual: 'reduce_only' }).byHand).toBe(true)
    expect(stateReason('active', null)).toEqual({ breaches: [], byHand: false, cooldown: null })
  })
})

describe('riskSummary', () => {
  it('says each risk event in one line', () => {
    expect(riskSummary('ui.risk.OrderDenied', { rule: 'max_notional_per_order', code: 'max_notional_per_order', figure: '12345', limit: '1000', side: 'buy', symbol: 'GOOG' }))
      .toBe('Order denied: max_notional_per_order 12345 > 1000 (buy GOOG)')
    expect(riskSummary('ui.risk.OrderDenied', { rule: 'trading_state', figure: null, limit: null, side: 'buy', symbol: 'GOOG' }))
      .toBe('Order denied: trading_state (buy GOOG)')
    expect(riskSummary('ui.risk.LimitBreached', { rule: 'daily_loss_pct', figure: '5.2', limit: '5', state: 'reduce_only', until: null }))
      .toBe('Limit breached: daily_loss_pct 5.2 > 5 → reduce-only')
    expect(riskSummary('ui.risk.LimitsChanged', { old: { max_notional_per_order: '1000', daily_loss_pct: '5' }, new: { max_notional_per_order: '20000', daily_loss_pct: '5' } }))
      .toBe('Limits changed: max_notional_per_order 1000 → 20000')
    expect(riskSummary('ui.risk.TradingStateChanged', { state: 'halted' })).toBe('Trading state set to halted')
    expect(riskSummary('ui.run.Heartbeat', {})).toBeNull()
  })
})
