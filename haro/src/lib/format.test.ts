import { describe, expect, it } from 'vitest'
import {
  fmtAgo, fmtBytes, fmtDate, fmtMetric, fmtMoney, fmtNumber, fmtPct, fmtPnl, fmtQty, fmtTime,
  metricLabel, shortHash, toNumber,
} from './format'

describe('formatters', () => {
  it('parse decimal strings and reject junk', () => {
    expect(toNumber('12.50')).toBe(12.5)
    expect(toNumber(3)).toBe(3)
    expect(toNumber('abc')).toBeNull()
    expect(toNumber('')).toBeNull()
    expect(toNumber(null)).toBeNull()
  })

  it('format money with sign and grouping', () => {
    expect(fmtMoney(1234.5)).toBe('$1,234.50')
    expect(fmtMoney('-3.456')).toBe('-$3.46')
    expect(fmtPnl(10)).toBe('+$10.00')
    expect(fmtPnl(-10)).toBe('-$10.00')
    expect(fmtPnl(0)).toBe('$0.00')
    expect(fmtMoney(undefined)).toBe('—')
  })

  it('format numbers, quantities and percentages', () => {
    expect(fmtNumber(1.005, 1)).toBe('1.0')
    expect(fmtQty('0.00012345')).toBe('0.00012345')
    expect(fmtQty(10)).toBe('10')
    expect(fmtPct(12.345)).toBe('12.35%')
    expect(fmtPct(null)).toBe('—')
  })

  it('format bytes in binary units', () => {
    expect(fmtBytes(512)).toBe('512 B')
    expect(fmtBytes(1536)).toBe('1.5 KiB')
    expect(fmtBytes(3 * 1024 * 1024)).toBe('3.0 MiB')
  })

  it('format times in UTC and relative ages', () => {
    expect(fmtTime('2024-01-02T03:04:05.678Z')).toBe('2024-01-02 03:04:05 UTC')
    expect(fmtDate('2024-01-02T03:04:05Z')).toBe('2024-01-02')
    expect(fmtTime('not a date')).toBe('not a date')
    const now = Date.parse('2024-01-02T00:00:00Z')
    expect(fmtAgo('2024-01-01T23:59:30Z', now)).toBe('30s ago')
    expect(fmtAgo('2024-01-01T23:00:00Z', now)).toBe('1h ago')
    expect(fmtAgo('2023-12-30T00:00:00Z', now)).toBe('3d ago')
  })

  it('label and format report metrics by unit', () => {
    expect(metricLabel('max_drawdown_pct')).toBe('Max drawdown')
    expect(metricLabel('sharpe')).toBe('Sharpe')
    expect(metricLabel('max_drawdown_duration_days')).toBe('Max drawdown duration')
    expect(metricLabel('return_ann_pct')).toBe('Return (ann.)')
    expect(fmtMetric('return_pct', 5)).toBe('5.00%')
    expect(fmtMetric('equity_final', 10500)).toBe('$10,500.00')
    expect(fmtMetric('duration_days', 30)).toBe('30.0 d')
    expect(fmtMetric('trades', 7)).toBe('7')
    expect(fmtMetric('sharpe', null)).toBe('—')
    expect(shortHash('abcdef0123456789')).toBe('abcdef012345')
  })
})
