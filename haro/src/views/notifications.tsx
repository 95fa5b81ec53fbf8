// Notifications in Settings: which channels the server has (set by WEAVER_NOTIFY_* variables;
// their secrets never reach the browser), where each rule's notifications go, a "Send test"
// per channel, and the notifications that could not be delivered (dead letters) with Retry.
import { useState } from 'react'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api } from '../api/client'
import { Chip, Empty, ErrorNote, QueryState, scrollable } from '../components/ui'
import { fmtTime } from '../lib/format'

export type NotifyChannel = { channel: string; configured: boolean }
export type NotifyRule = { rule: string; events: string; route: string; source: string }
export type NotifySettings = { channels: NotifyChannel[]; rules: NotifyRule[] }
export type NotifyAttempt = { channel: string; delivered: boolean; error?: string | null }
export type DeadLetter = {
  id: number
  event_id: string
  event_type: string
  channel: string
  title: string
  text: string
  attempts: number
  last_error?: string | null
  created_at: string
  updated_at: string
}
type DeadLetterPage = { items: DeadLetter[]; next_after?: number | null }

const SETTINGS = ['notify-settings']
const DEAD = ['notify-dead-letters']

export function NotificationsSettings() {
  const qc = useQueryClient()
  const q = useQuery({ queryKey: SETTINGS, queryFn: () => api.get<NotifySettings>('/notifications/settings') })
  const route = useMutation({
    mutationFn: (rules: Record<string, string>) => api.put<NotifySettings>('/notifications/rules', { rules }),
    onSuccess: (s) => qc.setQueryData(SETTINGS, s),
  })
  const test = useMutation({
    mutationFn: (channel?: string) =>
      api.post<{ results: NotifyAttempt[] }>('/notifications/test', channel ? { channel } : {}),
  })
  return (
    <>
      <h2>Notifications</h2>
      <QueryState q={q} what="The notification settings">
        {() => {
          const s = q.data!
          const configured = s.channels.filter((c) => c.configured)
          return (
            <>
              <div className="row" data-testid="notify-channels">
                {s.channels.map((c) => (
                  <span key={c.channel} data-testid={`notify-channel-${c.channel}`}>
                    {c.channel} <Chip value={c.configured ? 'active' : 'off'} />{' '}
                    {c.configured && (
                      <button type="button" disabled={test.isPending} onClick={() => test.mutate(c.channel)} data-testid={`notify-test-${c.channel}`}>
                        Send test
                      </button>
                    )}
                  </span>
                ))}
              </div>
              {configured.length === 0 && (
                <p className="small">
                  No channel is configured: set <code>WEAVER_NOTIFY_WEBHOOK_URL</code> (and <code>_SECRET</code>),{' '}
                  <code>WEAVER_NOTIFY_TELEGRAM_TOKEN</code> with <code>_CHAT_ID</code>, or{' '}
                  <code>WEAVER_NOTIFY_DISCORD_WEBHOOK_URL</code> on the server.
                </p>
              )}
              {test.data && (
                <ul data-testid="notify-test-results">
                  {test.data.results.map((r) => (
                    <li key={r.channel}>
                      {r.channel}: {r.delivered ? 'delivered' : `failed (${r.error ?? 'no answer'})`}
                    </li>
                  ))}
                </ul>
              )}
              {test.error && <ErrorNote error={test.error} />}
              <div className="table-wrap" {...scrollable('Notification rules')}>
                <table data-testid="notify-rules">
                  <thead>
                    <tr><th>Rule</th><th>Events</th><th>Sent to</th><th>Set by</th></tr>
                  </thead>
                  <tbody>
                    {s.rules.map((r) => (
                      <tr key={r.rule} data-rule={r.rule}>
                        <td>{r.rule}</td>
                        <td className="small">{r.events}</td>
                        <td>
                          <select
                            aria-label={`${r.rule} sent to`}
                            value={r.route}
                            disabled={route.isPending}
                            onChange={(e) => route.mutate({ [r.rule]: e.target.value })}
                          >
                            {['all', 'off', ...s.channels.map((c) => c.channel)].map((o) => (
                              <option key={o} value={o}>{o}</option>
                            ))}
                          </select>
                        </td>
                        <td className="small">{r.source}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              {route.error && <ErrorNote error={route.error} />}
            </>
          )
        }}
      </QueryState>
      <DeadLetters />
    </>
  )
}

function DeadLetters() {
  const qc = useQueryClient()
  const q = useQuery({ queryKey: DEAD, queryFn: () => api.get<DeadLetterPage>('/notifications/dead-letters?limit=100') })
  const [done, setDone] = useState<Record<number, string>>({})
  const retry = useMutation({
    mutationFn: (id: number) => api.post<unknown>(`/notifications/dead-letters/${id}/retry`),
    onSuccess: (_, id) => {
      setDone((d) => ({ ...d, [id]: 'sent again' }))
      qc.invalidateQueries({ queryKey: DEAD })
    },
  })
  return (
    <>
      <h3>Not delivered</h3>
      <QueryState q={q} what="The notifications not delivered">
        {() =>
          q.data!.items.length === 0 ? (
            <Empty>Every notification was delivered.</Empty>
          ) : (
            <div className="table-wrap" {...scrollable('Dead letters')}>
              <table data-testid="notify-dead-letters">
                <thead>
                  <tr><th>When</th><th>Channel</th><th>Notification</th><th>Why</th><th /></tr>
                </thead>
                <tbody>
                  {q.data!.items.map((d) => (
                    <tr key={d.id}>
                      <td>{fmtTime(d.updated_at)}</td>
                      <td>{d.channel}</td>
                      <td><strong>{d.title}</strong> <span className="small">{d.text}</span></td>
                      <td className="small neg">{d.last_error} <span className="small">({d.attempts} attempts)</span></td>
                      <td>
                        {done[d.id] ?? (
                          <button type="button" disabled={retry.isPending} onClick={() => retry.mutate(d.id)} data-testid={`notify-retry-${d.id}`}>
                            Retry
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </QueryState>
      {retry.error && <ErrorNote error={retry.error} />}
    </>
  )
}
