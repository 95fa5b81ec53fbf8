// The walk-forward form's checks, refusals mapped to fields, the overfitting lines and the
// stitched curve's geometry.
import { describe, expect, it } from 'vitest'
import { ApiError } from '../api/client'
import { emptySweepForm, newAxis } from './sweeps'
import { buildWalkForwardRequest, checkSize, curveGeometry, dsrLine, emptyWindowsForm, pboLine, refusalField } from './walkforward'
import { parseParams, splitSymbols } from '../views/run-form'

const sweepForm = () => ({ ...emptySweepForm(), strategy: '3', symbols: 'sample', axes: [{ ...newAxis('fast'), kind: 'list' as const, values: '5, 10' }] })

describe('checkSize', () => {
  it('reads bars as a whole number of 1 or more', () => {
    expect(checkSize('250', 'bars')).toEqual({ ok: true, value: 250 })
    expect(checkSize('', 'bars')).toEqual({ ok: true })
    expect(checkSize('2.5', 'bars')).toEqual({ ok: false, error: 'a whole number' })
    expect(checkSize('0', 'bars')).toEqual({ ok: false, error: '1 or more' })
  })

  it('reads a duration as a number and a unit', () => {
    expect(checkSize('180d', 'duration')).toEqual({ ok: true, value: '180d' })
    expect(checkSize(' 12 w ', 'duration')).toEqual({ ok: true, value: '12w' })
    expect(checkSize('6M', 'duration')).toEqual({ ok: true, value: '6M' })
    expect(checkSize('180', 'duration').ok).toBe(false)
    expect(checkSize('0d', 'duration').ok).toBe(false)
    expect(checkSize('100001d', 'duration').ok).toBe(false)
    expect(checkSize('6m', 'duration')).toEqual({ ok: false, error: '"6m" is not a duration (e.g. 90d, 12w or 6M)' })
  })
})

describe('buildWalkForwardRequest', () => {
  it("is the sweep's request plus its windows, step left out when empty", () => {
    const b = buildWalkForwardRequest(sweepForm(), { ...emptyWindowsForm(), in_sample: '200', out_of_sample: '50' }, parseParams, splitSymbols)
    expect(b).toEqual({ ok: true, value: {
      strategy: 3, symbols: ['SAMPLE'], timeframe: '1Day', method: { kind: 'grid' }, space: { fast: [5, 10] },
      objective: { metric: 'sharpe', direction: 'max' }, windows: { kind: 'rolling', in_sample: 200, out_of_sample: 50 },
    } })
  })

  it('sends durations and the step for anchored windows', () => {
    const b = buildWalkForwardRequest(sweepForm(), { kind: 'anchored', unit: 'duration', in_sample: '12M', out_of_sample: '13w', step: '90d' }, parseParams, splitSymbols)
    expect(b.ok && b.value.windows).toEqual({ kind: 'anchored', in_sample: '12M', out_of_sample: '13w', step: '90d' })
  })

  it("reports the sweep's and the windows' wrong fields together", () => {
    const b = buildWalkForwardRequest({ ...sweepForm(), symbols: '' }, { ...emptyWindowsForm(), in_sample: 'x', step: '0' }, parseParams, splitSymbols)
    expect(b).toEqual({ ok: false, errors: { symbols: 'at least one symbol', in_sample: '"x" is not a number', out_of_sample: 'required', step: '1 or more' } })
  })

  it('refuses a step shorter than the out-of-sample size (overlapping windows)', () => {
    const w = { ...emptyWindowsForm(), in_sample: '200', out_of_sample: '50', step: '20' }
    expect(buildWalkForwardRequest(sweepForm(), w, parseParams, splitSymbols)).toEqual({ ok: false, errors: { step: 'at least the out-of-sample size' } })
    const d = { ...emptyWindowsForm(), unit: 'duration' as const, in_sample: '365d', out_of_sample: '90d', step: '30d' }
    expect(buildWalkForwardRequest(sweepForm(), d, parseParams, splitSymbols).ok).toBe(false)
    // Units that do not compare here are left to the server.
    expect(buildWalkForwardRequest(sweepForm(), { ...d, out_of_sample: '3M' }, parseParams, splitSymbols).ok).toBe(true)
  })
})

describe('refusalField', () => {
  const err = (code: string, details: unknown, message = 'refused') => new ApiError(422, code, message, details, 'c1')
  const axes = [{ name: 'fast' }, { name: 'slow' }]

  it('places each refusal under its field', () => {
    expect(refusalField(err('invalid_windows', { field: 'out_of_sample' }, 'out_of_sample: 0 bars'), axes)).toEqual({ field: 'out_of_sample', message: 'out_of_sample: 0 bars' })
    expect(refusalField(err('invalid_windows', { field: 'windows.step' }), axes)?.field).toBe('step')
    expect(refusalField(err('invalid_windows', { field: 'windows', bars: 750, needed: 1000 }, 'windows: there are 750 bars'), axes)).toEqual({ field: 'windows', message: 'windows: there are 750 bars' })
    expect(refusalField(err('invalid_windows', null, 'no window'), axes)?.field).toBe('windows')
    expect(refusalField(err('unknown_parameter', { name: 'slow' }), axes)?.field).toBe('axis-1-name')
    expect(refusalField(err('unknown_parameter', { name: 'other' }), axes)?.field).toBe('space')
    expect(refusalField(err('unknown_metric', { accepted: ['sharpe', 'sqn'] }, 'unknown metric'), axes)).toEqual({ field: 'metric', message: 'unknown metric (accepted: sharpe, sqn)' })
    expect(refusalField(err('sweep_too_large', { points: 250000, limit: 100000 }), axes)).toEqual({ field: 'space', message: '250,000 points over all windows; this server allows at most 100,000' })
  })

  it('leaves anything else to the general error', () => {
    expect(refusalField(err('no_candles', {}), axes)).toBeNull()
    expect(refusalField(new Error('x'), axes)).toBeNull()
  })
})

describe('the overfitting lines', () => {
  it('say what the figures mean', () => {
    expect(dsrLine(0.9812)).toBe("98.1 % probability that the best point's true Sharpe ratio beats the best of the trials by luck alone: likely skill.")
    expect(dsrLine(0.3)).toContain('most likely luck')
    expect(pboLine(0.05)).toContain('(low: the in-sample choice usually holds up)')
    expect(pboLine(0.625)).toBe('In 62.5 % of the in-sample/out-of-sample splits the in-sample best ranked below the median out of sample (high: choosing the in-sample best is likely overfitting).')
  })
})

describe('curveGeometry', () => {
  it('scales the curve into its box', () => {
    const g = curveGeometry([{ ts: '2024-01-01T00:00:00Z', equity: 100 }, { ts: '2024-01-03T00:00:00Z', equity: 200 }, { ts: '2024-01-05T00:00:00Z', equity: 150 }], 100, 110)!
    expect([g.lo, g.hi]).toEqual([100, 200])
    // Padded by 5 % of the range: 100 → y 105, 200 → y 5.
    expect(g.d).toBe('M0.0,105.0 L50.0,5.0 L100.0,55.0')
    expect(g.x(new Date('2024-01-02T00:00:00Z').getTime())).toBe(25)
  })

  it('is null with fewer than two points', () => {
    expect(curveGeometry([{ ts: '2024-01-01T00:00:00Z', equity: 100 }], 100, 100)).toBeNull()
  })
})
