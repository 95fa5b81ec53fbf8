// A run's log as the dashboard holds it: the lines loaded so far, newest first and unique by
// seq, with the two cursors that reach the rest (`next`: the newest seq, to follow the log;
// `before`: the oldest loaded, to page back to the first line). Filtering by level and text
// happens here, over the loaded lines.
import type { RunLogLine, RunLogPage } from '../api/types'

export interface LogState {
  /** Newest first, unique by seq. */
  lines: RunLogLine[]
  /** The newest seq loaded (ask `after` it for what follows). */
  next: number
  /** Ask `before` it for older lines; null once the first line is loaded. */
  before: number | null
  /** Whether the first (newest) page arrived. */
  loaded: boolean
}

export const EMPTY_LOG: LogState = { lines: [], next: 0, before: null, loaded: false }

/** The newest page (`GET /runs/{id}/logs`, newest first): what the log starts with. */
export function startLog(page: RunLogPage): LogState {
  return { lines: page.items, next: Number(page.next) || 0, before: page.next_before ?? null, loaded: true }
}

/** Lines that follow the log (oldest first, `after=next`) go on top. */
export function addNewer(s: LogState, items: RunLogLine[]): LogState {
  const fresh = items.filter((l) => l.seq > s.next).sort((a, b) => b.seq - a.seq)
  if (fresh.length === 0) return s
  return { ...s, lines: [...fresh, ...s.lines], next: fresh[0].seq }
}

/** An older page (newest first, `before=before`) goes below. */
export function addOlder(s: LogState, page: RunLogPage): LogState {
  const last = s.lines.length ? s.lines[s.lines.length - 1].seq : Infinity
  const older = page.items.filter((l) => l.seq < last)
  return { ...s, lines: [...s.lines, ...older], before: page.next_before ?? null }
}

/** Levels from the least to the most severe; a filter shows its level and the ones after. */
export const LEVELS = ['debug', 'info', 'warn', 'error'] as const

/** The lines at `minLevel` or above ('' for all) whose message contains `search` (any case). */
export function filterLines(lines: RunLogLine[], minLevel: string, search: string): RunLogLine[] {
  const floor = minLevel ? LEVELS.indexOf(minLevel as (typeof LEVELS)[number]) : -1
  const needle = search.trim().toLowerCase()
  return lines.filter((l) => {
    if (floor > 0) {
      const at = LEVELS.indexOf(l.level as (typeof LEVELS)[number])
      if (at !== -1 && at < floor) return false
    }
    return !needle || l.message.toLowerCase().includes(needle)
  })
}
