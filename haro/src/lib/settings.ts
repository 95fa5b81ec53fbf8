// Browser-side settings: the API key (localStorage, sent as X-API-Key), the theme, the time zone
// times are shown in, and whether the dashboard's first-run card was started or dismissed.
// A tiny external store so components re-render when either changes (useSyncExternalStore).

const KEY = 'weaver.apiKey'
const THEME = 'weaver.theme'
const FIRST_RUN = 'weaver.firstRun'
const TIME_ZONE = 'weaver.timeZone'
/** `UTC` (the default), `local` (the browser's zone) or an IANA zone name (`America/New_York`). */
export type TimeZoneSetting = string
export type Theme = 'light' | 'dark' | 'system'
export type FirstRun = 'started' | 'dismissed' | null

const listeners = new Set<() => void>()
const notify = () => listeners.forEach((l) => l())

function read(name: string): string | null {
  try {
    return globalThis.localStorage?.getItem(name) ?? null
  } catch {
    return null // storage disabled (private mode): behave as unset
  }
}

function write(name: string, value: string | null) {
  try {
    if (value === null || value === '') globalThis.localStorage?.removeItem(name)
    else globalThis.localStorage?.setItem(name, value)
  } catch {
    // storage disabled: the value lasts for this page only
  }
  notify()
}

export const settings = {
  subscribe(l: () => void) {
    listeners.add(l)
    return () => void listeners.delete(l)
  },
  apiKey: () => read(KEY) ?? '',
  setApiKey: (k: string) => write(KEY, k.trim() || null),
  theme: (): Theme => (read(THEME) as Theme | null) ?? 'system',
  setTheme: (t: Theme) => write(THEME, t === 'system' ? null : t),
  firstRun: (): FirstRun => {
    const v = read(FIRST_RUN)
    return v === 'started' || v === 'dismissed' ? v : null
  },
  setFirstRun: (v: FirstRun) => write(FIRST_RUN, v),
  /** The time zone setting; a stored zone this browser does not know reads as UTC. */
  timeZone: (): TimeZoneSetting => {
    const v = read(TIME_ZONE)
    return v && (v === 'local' || isZone(v)) ? v : 'UTC'
  },
  setTimeZone: (z: TimeZoneSetting) => write(TIME_ZONE, z === 'UTC' || !(z === 'local' || isZone(z)) ? null : z),
}

/** Whether `z` is an IANA zone this browser's Intl knows. */
export function isZone(z: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: z })
    return true
  } catch {
    return false
  }
}

/** The zones the picker offers: UTC, then every zone this browser knows. */
export function zoneChoices(): string[] {
  const known = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : []
  return ['UTC', ...known.filter((z) => z !== 'UTC')]
}

/** The theme actually shown: an explicit choice, else the system's preference. */
export function effectiveTheme(t: Theme, prefersDark: boolean): 'light' | 'dark' {
  return t === 'system' ? (prefersDark ? 'dark' : 'light') : t
}
