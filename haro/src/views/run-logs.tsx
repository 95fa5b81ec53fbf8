// A run's log, newest first: the newest page at once, older pages on "Load older" down to the
// first line, new lines on top while "Follow" is on (they are fetched when the run's events
// arrive), a minimum level and a text search over the loaded lines.
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

type Fetched = { start: true; state: LogState } | { start: false; items: RunLogLine[]; more: boolean }

export function RunLogs({ id }: { id: number }) {
  const [log, setLog] = useState<LogState>(EMPTY_LOG)
  const [follow, setFollow] = useState(true)
  const [level, setLevel] = useState('')
  const [search, setSearch] = useState('')
  const [older, setOlder] = useState<{ busy: boolean; error: unknown }>({ busy: false, error: null })
  const current = useRef(log)
  current.current = log
  // One cache entry per mounted log (under ['run', id], so the run's events refetch it): what it
  // fetches depends on what this view already holds.
  const mount = useId()
  const head = useQuery({
    queryKey: ['run', String(id), 'logs', mount],
    queryFn: async (): Promise<Fetched> => {
      const held = current.current
      if (!held.loaded) return { start: true, state: startLog(await fetchRunLogs(id, { limit: LOG_PAGE })) }
      const page = await fetchRunLogs(id, { after: held.next, limit: CATCH_UP })
      return { start: false, items: page.items, more: page.items.length === CATCH_UP }
    },
    enabled: follow || !log.loaded,
    gcTime: 0,
    // A burst longer than one request: catch up at once rather than at the next event.
    refetchInterval: (q) => (q.state.data && !q.state.data.start && q.state.data.more ? 200 : fallbackInterval()),
  })
  useEffect(() => {
    const d = head.data
    if (!d) return
    setLog((s) => (d.start ? (s.loaded ? s : d.state) : addNewer(s, d.items)))
  }, [head.data])

  const loadOlder = async () => {
    if (log.before === null) return
    setOlder({ busy: true, error: null })
    try {
      const page = await fetchRunLogs(id, { before: log.before, limit: LOG_PAGE })
      setLog((s) => addOlder(s, page))
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
      <p className="small" data-testid="log-count">
        {shown.length === log.lines.length ? `${log.lines.length} lines` : `${shown.length} of ${log.lines.length} lines`}, newest first
        {log.before === null ? ' · from the first line' : ' · older lines below'}
      </p>
      {head.error ? <ErrorNote error={head.error} what="New log lines" /> : null}
      {shown.length === 0 ? <Empty>{log.lines.length === 0 ? 'No log lines.' : 'No line matches.'}</Empty> : (
        <pre className="logs" {...scrollable('Log lines')} data-testid="log-lines">
          {shown.map((l) => `${fmtTime(l.ts)} ${l.level.toUpperCase().padEnd(5)} ${l.message}`).join('\n')}
        </pre>
      )}
      {older.error ? <ErrorNote error={older.error} /> : null}
      {log.before !== null && (
        <button type="button" onClick={loadOlder} disabled={older.busy} data-testid="log-older">
          {older.busy ? 'Loading…' : `Load ${LOG_PAGE} older lines`}
        </button>
      )}
    </div>
  )
}
