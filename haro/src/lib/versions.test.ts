import { describe, expect, it } from 'vitest'
import type { Version } from '../api/versions'
import { eventSummary, keysForEvent } from './events'
import { activeVersion, isVersionEvent, paramsText, pendingSwitch, previousVersion, promoteRequest, rollbackBlocked, versionSummary } from './versions'

const v = (seq: number, status: Version['status'], strategy_id = 11, reason: Version['reason'] = 'promote'): Version => ({
  seq, strategy_id, strategy_name: 'sma-cross', strategy_version: String(strategy_id - 10), params: {}, reason, state: 'replay',
  shadow_id: null, status, requested_at: '2024-01-02T00:00:00Z', switched_at: null, at_bar: null, replayed: null, error_code: null,
  auto_rollback_bars: 20,
})

describe('version history', () => {
  it('finds the active version, a pending switch and what a rollback goes back to', () => {
    const h = [v(1, 'superseded', 11, 'start'), v(2, 'superseded', 12), v(3, 'failed', 13), v(4, 'active', 11, 'rollback')]
    expect(activeVersion(h)?.seq).toBe(4)
    // The version that ran before the active one, not the failed switch that never ran.
    expect(previousVersion(h)?.seq).toBe(2)
    expect(pendingSwitch(h)).toBeUndefined()
    expect(rollbackBlocked(h)).toBeNull()
  })

  it('offers no rollback with only the start version, nor while a switch is pending', () => {
    expect(rollbackBlocked([v(1, 'active', 11, 'start')])).toBe('no previous version')
    expect(rollbackBlocked([v(1, 'active', 11, 'start'), v(2, 'failed', 12)])).toBe('no previous version')
    expect(rollbackBlocked([v(1, 'superseded', 11, 'start'), v(2, 'active', 12), v(3, 'pending', 11, 'rollback')])).toBe('a switch is pending')
    expect(rollbackBlocked([])).toBe('no previous version')
  })
})

describe('promoteRequest', () => {
  const form = { strategy: '12', params: '', state: 'replay' as const, autoRollbackBars: '20' }

  it('builds the body: the version id, params only when given, the state, the bars', () => {
    expect(promoteRequest(form)).toEqual({ ok: true, value: { strategy: 12, state: 'replay', auto_rollback_bars: 20 } })
    expect(promoteRequest({ ...form, params: '{"fast": 3}', state: 'fresh', autoRollbackBars: '0' }))
      .toEqual({ ok: true, value: { strategy: 12, params: { fast: 3 }, state: 'fresh', auto_rollback_bars: 0 } })
    // An empty bar count leaves the server's default.
    expect(promoteRequest({ ...form, autoRollbackBars: ' ' })).toEqual({ ok: true, value: { strategy: 12, state: 'replay' } })
  })

  it('says what is wrong per field, before anything is sent', () => {
    expect(promoteRequest({ ...form, strategy: '', params: '[1]', autoRollbackBars: 'abc' })).toEqual({
      ok: false, errors: { strategy: 'pick a ready version', params: 'params must be a JSON object', autoRollbackBars: '"abc" is not a number' },
    })
    expect(promoteRequest({ ...form, autoRollbackBars: '-1' })).toEqual({ ok: false, errors: { autoRollbackBars: '0 or more' } })
    expect(promoteRequest({ ...form, autoRollbackBars: '2.5' })).toEqual({ ok: false, errors: { autoRollbackBars: 'a whole number' } })
    expect(promoteRequest({ ...form, autoRollbackBars: '4294967296' })).toEqual({ ok: false, errors: { autoRollbackBars: '4294967295 or less' } })
    const bad = promoteRequest({ ...form, params: '{fast' })
    expect(bad.ok).toBe(false)
    expect(!bad.ok && bad.errors.params).toMatch(/^params: /)
  })

  it('shows the run’s params as JSON, nothing for none', () => {
    expect(paramsText({ fast: 10, slow: 20 })).toBe('{"fast":10,"slow":20}')
    expect(paramsText({})).toBe('')
    expect(paramsText(null)).toBe('')
  })
})

describe('version events', () => {
  it('say in one line what a run switched to and why', () => {
    const nameOf = (id: number) => ({ 11: 'sma-cross v1', 12: 'sma-cross v2' })[id]
    const switched = { run_id: 7, seq: 2, from_strategy_id: 11, to_strategy_id: 12, reason: 'promote', state: 'replay', at_bar: null, replayed: 40, error_code: null }
    expect(versionSummary('ui.run.VersionSwitched', switched, '7', nameOf)).toBe('run 7 switched to sma-cross v2 (promote)')
    expect(eventSummary({ type: 'ui.run.VersionSwitched', run_id: '7', data: { ...switched, from_strategy_id: 12, to_strategy_id: 11, reason: 'rollback' } }, nameOf))
      .toBe('run 7 switched to sma-cross v1 (rollback)')
    // An automatic rollback says why.
    expect(eventSummary({ type: 'ui.run.VersionSwitched', run_id: '7', data: { ...switched, to_strategy_id: 11, reason: 'auto_rollback', error_code: 'guest_trapped' } }, nameOf))
      .toBe('run 7 switched to sma-cross v1 (auto rollback: guest_trapped)')
    // Strategies not loaded: the id.
    expect(eventSummary({ type: 'ui.run.VersionSwitched', run_id: '7', data: switched })).toBe('run 7 switched to strategy #12 (promote)')
    expect(eventSummary({ type: 'ui.run.VersionSwitchFailed', run_id: '7', data: { run_id: 7, seq: 3, strategy_id: 12, reason: 'promote', error_code: 'run_ended' } }, nameOf))
      .toBe('run 7 could not switch to sma-cross v2 (promote): run_ended')
    expect(versionSummary('ui.run.StatusChanged', {}, '7')).toBeNull()
    expect(isVersionEvent('ui.run.VersionSwitched')).toBe(true)
    expect(isVersionEvent('ui.run.Heartbeat')).toBe(false)
  })

  it('refresh the run’s page, its versions included', () => {
    expect(keysForEvent({ type: 'ui.run.VersionSwitched', run_id: '7' })).toContainEqual(['run', '7'])
    expect(keysForEvent({ type: 'ui.run.VersionSwitchFailed', run_id: '7' })).toContainEqual(['run', '7'])
  })
})
