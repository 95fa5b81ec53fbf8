import { describe, expect, it } from 'vitest'
import { ApiError } from '../api/client'
import {
  candlesSource, fileError, parseCount, serverFieldError, seriesKey, symbolError, symbolFromFile, TIMEFRAMES,
  validateImport, validateSynth,
} from './candles'

const csv = (name = 'GOOG.csv', body = 'timestamp,open,high,low,close,volume\n', type = 'text/csv') => new File([body], name, { type })

describe('candle forms: client-side checks', () => {
  it('offers exactly the timeframes the server accepts', () => {
    expect(TIMEFRAMES).toEqual(['1Min', '5Min', '15Min', '30Min', '1Hour', '4Hour', '1Day', '1Week', '1Month'])
  })

  it('checks symbols', () => {
    expect(symbolError('goog')).toBeNull()
    expect(symbolError(' BTC/USD ')).toBeNull()
    expect(symbolError('BRK.B')).toBeNull()
    expect(symbolError('')).toMatch(/Enter a symbol/)
    expect(symbolError('   ')).toMatch(/Enter a symbol/)
    expect(symbolError('GO OG')).toMatch(/no spaces/)
    expect(symbolError('-GOOG')).toMatch(/only/)
    expect(symbolError('X'.repeat(33))).toMatch(/32/)
  })

  it('suggests a symbol from the file name', () => {
    expect(symbolFromFile('GOOG.csv')).toBe('GOOG')
    expect(symbolFromFile('btc usd.1h.csv')).toBe('BTC-USD.1H')
    expect(symbolFromFile('__spy.csv')).toBe('SPY')
  })

  it('checks the file', () => {
    expect(fileError(null)).toMatch(/Choose a CSV file/)
    expect(fileError(csv())).toBeNull()
    expect(fileError(csv('bars.txt', 'x', ''))).toBeNull()
    expect(fileError(csv('export', 'x', 'text/csv'))).toBeNull()
    expect(fileError(csv('sma.wasm', 'x', 'application/wasm'))).toMatch(/not a CSV file/)
    expect(fileError(csv('empty.csv', ''))).toMatch(/empty/)
  })

  it('validates the import form, normalizing the symbol', () => {
    const file = csv()
    expect(validateImport({ file, symbol: ' goog ', timeframe: '1Day' })).toEqual({ ok: true, value: { file, symbol: 'GOOG', timeframe: '1Day' } })
    const bad = validateImport({ file: null, symbol: '', timeframe: '2Day' })
    expect(bad.ok).toBe(false)
    if (!bad.ok) expect(Object.keys(bad.errors).sort()).toEqual(['file', 'symbol', 'timeframe'])
  })

  it('parses counts people type', () => {
    expect(parseCount('1,000')).toBe(1000)
    expect(parseCount(' 1_000_000 ')).toBe(1_000_000)
    expect(parseCount('0')).toBe(0)
    expect(parseCount('1.5')).toBeNull()
    expect(parseCount('-3')).toBeNull()
    expect(parseCount('1e3')).toBeNull()
    expect(parseCount('')).toBeNull()
    expect(parseCount('99999999999999999999')).toBeNull()
  })

  it('validates the synthetic series form: bars 1..1,000,000, seed optional', () => {
    const f = { symbol: 'synth', timeframe: '1Hour', bars: '500', seed: '' }
    expect(validateSynth(f)).toEqual({ ok: true, value: { symbol: 'SYNTH', timeframe: '1Hour', bars: 500 } })
    expect(validateSynth({ ...f, seed: '42' })).toEqual({ ok: true, value: { symbol: 'SYNTH', timeframe: '1Hour', bars: 500, seed: 42 } })
    expect(validateSynth({ ...f, bars: '1,000,000' }).ok).toBe(true)
    for (const bars of ['0', '1000001', '', '12.5', 'many']) {
      const r = validateSynth({ ...f, bars })
      expect(r.ok, bars).toBe(false)
      if (!r.ok) expect(r.errors.bars).toMatch(/1 to 1,000,000/)
    }
    const r = validateSynth({ ...f, seed: '-1', symbol: '' })
    expect(r.ok).toBe(false)
    if (!r.ok) expect(Object.keys(r.errors).sort()).toEqual(['seed', 'symbol'])
  })
})

describe('serverFieldError', () => {
  const fields = ['file', 'symbol', 'timeframe'] as const
  it('puts invalid_csv under the file, naming line and column', () => {
    const e = new ApiError(422, 'invalid_csv', 'line 3, column close: not a number', { line: 3, column: 'close' }, 'c-1')
    expect(serverFieldError(e, fields)).toEqual({ field: 'file', message: 'line 3, column close: not a number' })
    const terse = new ApiError(422, 'invalid_csv', 'bad number', { line: 7, column: 4 }, null)
    expect(serverFieldError(terse, fields)).toEqual({ field: 'file', message: 'bad number (line 7, column 4)' })
  })
  it('follows details.field and known codes; else leaves the error general', () => {
    expect(serverFieldError(new ApiError(422, 'invalid_timeframe', 'unknown timeframe 2Day', null, null), fields)?.field).toBe('timeframe')
    expect(serverFieldError(new ApiError(422, 'invalid', 'no', { field: 'symbol' }, null), fields)?.field).toBe('symbol')
    expect(serverFieldError(new ApiError(422, 'invalid_bars', 'too many', null, null), fields)).toBeNull()
    expect(serverFieldError(new ApiError(500, 'invalid_csv', 'boom', null, null), fields)).toBeNull()
    expect(serverFieldError(new ApiError(401, 'unauthorized', 'key', null, null), fields)).toBeNull()
    expect(serverFieldError(new Error('x'), fields)).toBeNull()
    expect(serverFieldError(null, fields)).toBeNull()
  })
})

describe('sources', () => {
  it('tells the source of a set of bars', () => {
    expect(candlesSource([])).toBeNull()
    expect(candlesSource([{}, { source: null }])).toBeNull()
    expect(candlesSource([{ source: 'sample' }, { source: 'sample' }, {}])).toBe('sample')
    expect(candlesSource([{ source: 'sample' }, { source: 'import' }])).toBe('mixed')
  })
  it('keys a series by symbol and timeframe', () => {
    expect(seriesKey({ symbol: 'SAMPLE', timeframe: '1Day' })).toBe('SAMPLE 1Day')
  })
})
