import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { fmtBarTime, fmtDate, fmtTime, isIntraday, zoneLabel, zoneName } from './format'
import { isZone, settings, zoneChoices } from './settings'

const store = new Map<string, string>()
beforeEach(() => {
  store.clear()
  vi.stubGlobal('localStorage', {
    getItem: (k: string) => store.get(k) ?? null,
    setItem: (k: string, v: string) => void store.set(k, v),
    removeItem: (k: string) => void store.delete(k),
  })
})
afterEach(() => vi.unstubAllGlobals())

// 2024-07-01 13:45:30 UTC: summer time in New York (UTC-4) and Berlin (UTC+2).
const SUMMER = '2024-07-01T13:45:30Z'
// 2024-01-15 03:00 UTC: the previous evening in New York (UTC-5).
const WINTER = '2024-01-15T03:00:00Z'

describe('the time zone setting', () => {
  it('is UTC by default and kept in localStorage', () => {
    expect(settings.timeZone()).toBe('UTC')
    settings.setTimeZone('America/New_York')
    expect(store.get('weaver.timeZone')).toBe('America/New_York')
    expect(settings.timeZone()).toBe('America/New_York')
    settings.setTimeZone('local')
    expect(settings.timeZone()).toBe('local')
    settings.setTimeZone('UTC')
    expect(store.has('weaver.timeZone')).toBe(false)
  })

  it('refuses zones the browser does not know', () => {
    expect(isZone('Europe/Berlin')).toBe(true)
    expect(isZone('Mars/Olympus_Mons')).toBe(false)
    settings.setTimeZone('Mars/Olympus_Mons')
    expect(settings.timeZone()).toBe('UTC')
    store.set('weaver.timeZone', 'Not/AZone')
    expect(settings.timeZone()).toBe('UTC')
  })

  it('offers UTC first, then the IANA zones', () => {
    const z = zoneChoices()
    expect(z[0]).toBe('UTC')
    expect(z).toContain('America/New_York')
    expect(z.filter((x) => x === 'UTC')).toHaveLength(1)
  })

  it('is applied by the formatters without passing it', () => {
    expect(fmtTime(SUMMER)).toBe('2024-07-01 13:45:30 UTC')
    settings.setTimeZone('Europe/Berlin')
    expect(fmtTime(SUMMER)).toMatch(/^2024-07-01 15:45:30 (GMT\+2|CEST)$/)
    expect(zoneName()).toBe('Europe/Berlin')
  })
})

describe('times in a zone', () => {
  it('show date, time and the zone label', () => {
    expect(fmtTime(SUMMER, 'UTC')).toBe('2024-07-01 13:45:30 UTC')
    expect(fmtTime(SUMMER, 'America/New_York')).toBe('2024-07-01 09:45:30 EDT')
    expect(fmtTime(WINTER, 'America/New_York')).toBe('2024-01-14 22:00:00 EST')
    expect(fmtTime('nonsense', 'UTC')).toBe('nonsense')
    expect(fmtTime(null)).toBe('—')
  })

  it('dates are the zone’s date', () => {
    expect(fmtDate(WINTER, 'UTC')).toBe('2024-01-15')
    expect(fmtDate(WINTER, 'America/New_York')).toBe('2024-01-14')
  })

  it('bars show the clock only for intraday timeframes', () => {
    expect(isIntraday('1Min')).toBe(true)
    expect(isIntraday('15Min')).toBe(true)
    expect(isIntraday('4Hour')).toBe(true)
    expect(isIntraday('1Day')).toBe(false)
    expect(isIntraday('1Week')).toBe(false)
    expect(isIntraday('1Month')).toBe(false)
    expect(fmtBarTime(SUMMER, '5Min', 'UTC')).toBe('2024-07-01 13:45 UTC')
    expect(fmtBarTime(SUMMER, '1Day', 'UTC')).toBe('2024-07-01')
    expect(fmtBarTime(WINTER, '1Hour', 'America/New_York')).toBe('2024-01-14 22:00 EST')
  })

  it('label the zone in force', () => {
    expect(zoneLabel('UTC')).toBe('UTC')
    expect(zoneLabel('America/New_York', new Date(SUMMER))).toBe('EDT')
    expect(zoneName('local')).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone)
  })
})
