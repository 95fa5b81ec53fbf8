// A run's log, newest first: the newest page at once, older pages on "Load older" down to the
// first line, new lines on top while "Follow" is on (they are fetched when the run's events
// arrive). A minimum level and a text search go to the server, which searches the whole log
// (`GET /runs/{id}/logs?level=&q=`): a line a thousand pages back is found, and "Load older"
// pages through the matches. While the server answers, the lines already loaded are filtered
// at once.
import { useEffect, useId, useRef, useState } from 'react'
import { useQuery } from '@tanstack/react-query'
import { fetchRunLogs } from '../api/queries'
import type { RunLogLine } from '../api/types'
import { fallbackInterval } from '../app/query-client'
import { Empty, ErrorNote, Loading, scrollable } from '../components/ui'
import { fmtTime } from '../lib/format'
import { addNewer, addOlder, EMPTY_LOG, filterLines, LEVELS, startLog, type LogState } from '../lib/logs'

/** Lines per page (newest page, and each older one). */
export const LOG_PAGE = 200
/** Following catches up this many lines per request. */
const CATCH_UP = 1000
/** Typing pauses this long before the search goes to the server (ms). */
export const SEARCH_DEBOUNCE = 300

type Fetched = { start: true; key: string; state: LogState } | { start: false; key: string; items: RunLogLine[]; more: boolean }
/** The log a view holds, and the search it answers. */
type Held = LogState & { key: string }
type Search = { level: string; q: string }

const keyOf = (s: Search) => `${s.level}\u0000${s.q}`
const params = (s: Search) => ({ level: s.level || undefined, q: s.q || undefined })

export function RunLogs({ id }: { id: number }) {
  const [log, setLog] = useState<Held>({ ...EMPTY_LOG, key: keyOf({ level: '', q: '' }) })
  const [follow, setFollow] = useState(true)
  const [level, setLevel] = useState('')
  const [search, setSearch] = useState('')
  // The search the server is asked: the level at once, the text once typing pauses.
  const [asked, setAsked] = useState<Search>({ level: '', q: '' })
  useEffect(() => {
    const q = search.trim()
    if (q === asked.q && level === asked.level) return
    const t = setTimeout(() => setAsked({ level, q }), q === asked.q ? 0 : SEARCH_DEBOUNCE)
    return () => clearTimeout(t)
  }, [level, search, asked])
  const key = keyOf(asked)
  const [older, setOlder] = useState<{ busy: boolean; error: unknown }>({ busy: false, error: null })
  const current = useRef(log)
  current.current = log
  // One cache entry per mounted log and search (under ['run', id], so the run's events refetch
  // it): what it fetches depends on what this view already holds.
  const mount = useId()
  // The search asked is not the one held yet; or (`searching`) not even asked, still typed.
  const fresh = !log.loaded || log.key !== key
  const searching = fresh || search.trim() !== asked.q || level !== asked.level
  const head = useQuery({
    queryKey: ['run', String(id), 'logs', mount, key],
    queryFn: async (): Promise<Fetched> => {
      const held = current.current
      if (!held.loaded || held.key !== key)
        return { start: true, key, state: startLog(await fetchRunLogs(id, { limit: LOG_PAGE, ...params(asked) })) }
      const page = await fetchRunLogs(id, { after: held.next, limit: CATCH_UP, ...params(asked) })
      return { start: false, key, items: page.items, more: page.items.length === CATCH_UP }
    },
    enabled: follow || fresh,
    gcTime: 0,
    // A burst longer than one request: catch up at once rather than at the next event.
    refetchInterval: (q) => (q.state.data && !q.state.data.start && q.state.data.more ? 200 : fallbackInterval()),
  })
  useEffect(() => {
    const d = head.data
    if (!d) return
    setLog((s) => {
      if (d.start) return s.loaded && s.key === d.key ? s : { ...d.state, key: d.key }
      return s.key === d.key ? { ...addNewer(s, d.items), key: s.key } : s
    })
  }, [head.data])

  const loadOlder = async () => {
    if (log.before === null) return
    const at = log.key
    setOlder({ busy: true, error: null })
    try {
      const page = await fetchRunLogs(id, { before: log.before, limit: LOG_PAGE, ...params(asked) })
      setLog((s) => (s.key === at ? { ...addOlder(s, page), key: s.key } : s))
      setOlder({ busy: false, error: null })
    } catch (error) {
      setOlder({ busy: false, error })
    }
  }

  if (!log.loaded) return head.error ? <ErrorNote error={head.error} what="Run logs" /> : <Loading />
  const shown = filterLines(log.lines, level, search)
  return (
    <div data-testid="run-logs">
      <div className="form">
        <label><input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} data-testid="log-follow" /> Follow</label>
        <label>Level
          <select value={level} onChange={(e) => setLevel(e.target.value)} data-testid="log-level">
            <option value="">all</option>
            {LEVELS.map((l) => <option key={l} value={l}>{l} and above</option>)}
          </select>
        </label>
        <label>Search<input type="search" value={search} onChange={(e) => setSearch(e.target.value)} data-testid="log-search" placeholder="text in the message" /></label>
      </div>
      <p className="small" data-testid="log-count" aria-live="polite">
        {searching
          ? `${shown.length} of the loaded lines match · searching the whole log…`
          : asked.level || asked.q
            ? `${shown.length} matching lines, newest first${log.before === null ? ' · every match' : ' · older matches below'}`
            : `${shown.length === log.lines.length ? `${log.lines.length} lines` : `${shown.length} of ${log.lines.length} lines`}, newest first${log.before === null ? ' · from the first line' : ' · older lines below'}`}
      </p>
      {head.error ? <ErrorNote error={head.error} what="New log lines" /> : null}
      {shown.length === 0 ? <Empty>{log.lines.length === 0 ? 'No log lines.' : 'No line matches.'}</Empty> : (
        <pre className="logs" {...scrollable('Log lines')} data-testid="log-lines">
          {shown.map((l) => `${fmtTime(l.ts)} ${l.level.toUpperCase().padEnd(5)} ${l.message}`).join('\n')}
        </pre>
      )}
      {older.error ? <ErrorNote error={older.error} /> : null}
      {!searching && log.before !== null && (
        <button type="button" onClick={loadOlder} disabled={older.busy} data-testid="log-older">
          {older.busy ? 'Loading…' : `Load ${LOG_PAGE} older lines`}
        </button>
      )}
    </div>
  )
}
