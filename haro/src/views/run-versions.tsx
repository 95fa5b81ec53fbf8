// The Versions panel of a run's page (issue #25): the run's version history (why and when each
// version became the run's, how its state was rebuilt, the bar it switched at), the one running
// now marked; while the run runs, Roll back (to the version before, confirmed) and a form that
// promotes a ready version of the same strategy name. A switch waits for the next bar boundary:
// the history is polled while one is pending, and the run's `run.VersionSwitched` /
// `run.VersionSwitchFailed` events refresh it too. The Shadows panel's Promote button
// (PromoteShadowButton) promotes a shadow's version and parameters.
import { useEffect, useId, useRef, useState, type FormEvent } from 'react'
import { useQueryClient } from '@tanstack/react-query'
import { useStrategies } from '../api/queries'
import type { Shadow } from '../api/shadows'
import type { Run, Strategy } from '../api/types'
import { usePromote, useRollback, useVersions, type PromoteRequest, type Version } from '../api/versions'
import { Confirm } from '../components/dialog'
import { Chip, Empty, ErrorNote, QueryState, scrollable } from '../components/ui'
import { fmtTime } from '../lib/format'
import {
  activeVersion, AUTO_ROLLBACK_DEFAULT, paramsText, pendingSwitch, previousVersion, promoteRequest, reasonWord, rollbackBlocked,
  versionLabel, type PromoteErrors, type PromoteForm,
} from '../lib/versions'
import { described, Field, useFocusInvalid } from './candle-forms'

export function VersionsPanel({ run }: { run: Run }) {
  const q = useVersions(run.id)
  const items = q.data ?? []
  useRefreshRunOnSwitch(run.id, activeVersion(items)?.seq)
  return (
    <section data-testid="versions">
      <h2>Versions</h2>
      {run.status === 'running' && q.data && <Rollback run={run} items={items} />}
      <QueryState q={q} what="Versions">
        {() => (items.length === 0
          ? <Empty>No version history yet.</Empty>
          : <VersionTable items={items} />)}
      </QueryState>
      {/* A switch happens only in a run executing now (else 409 `run_not_active`). */}
      {run.status === 'running' && q.data && <PromoteVersionForm run={run} items={items} />}
    </section>
  )
}

/** Once a pending switch is done, GET /runs/{id} names the new strategy: refetch it (the event
 * does this too, but a tab whose stream is down only has the poll). */
function useRefreshRunOnSwitch(runId: number, activeSeq: number | undefined) {
  const qc = useQueryClient()
  const seen = useRef(activeSeq)
  useEffect(() => {
    if (seen.current !== undefined && activeSeq !== undefined && activeSeq !== seen.current)
      void qc.invalidateQueries({ queryKey: ['run', String(runId)], exact: true })
    seen.current = activeSeq
  }, [qc, runId, activeSeq])
}

function VersionTable({ items }: { items: Version[] }) {
  return (
    <div className="table-wrap" {...scrollable('Versions')}>
      <table data-testid="versions-table">
        <thead>
          <tr>
            <th>#</th><th>Version</th><th>Params</th><th>Reason</th><th>State</th><th>Status</th>
            <th>Requested</th><th>Switched</th><th>At bar</th><th className="num">Replayed</th><th>Error</th>
          </tr>
        </thead>
        <tbody>
          {items.map((v) => (
            <tr key={v.seq} data-testid={`version-${v.seq}`} aria-current={v.status === 'active' ? 'true' : undefined}>
              <td>{v.seq}</td>
              <td>
                {versionLabel(v)} <span className="small">(#{v.strategy_id})</span>
                {v.status === 'active' && <b className="small" data-testid="version-current"> · running now</b>}
              </td>
              <td><code className="small">{JSON.stringify(v.params)}</code></td>
              <td>{reasonWord(v.reason)}{v.shadow_id !== null && <span className="small"> (shadow #{v.shadow_id})</span>}</td>
              <td>{v.state}{v.auto_rollback_bars > 0 && v.reason === 'promote' && <span className="small" title="bars after the switch in which a trap or a risk breach rolls back"> · auto rollback {v.auto_rollback_bars} bars</span>}</td>
              <td><Chip value={v.status} /></td>
              <td>{fmtTime(v.requested_at)}</td>
              <td>{v.switched_at ? fmtTime(v.switched_at) : '—'}</td>
              <td>{v.at_bar ? fmtTime(v.at_bar) : '—'}</td>
              <td className="num">{v.replayed ?? '—'}</td>
              <td>{v.error_code ? <code className="small">{v.error_code}</code> : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/** What a 202 says (the switch is requested, it happens at the run's next bar), then what became
 * of it as the history shows it. */
function Requested({ v, items }: { v: Version; items: readonly Version[] }) {
  const now = items.find((x) => x.seq === v.seq) ?? v
  const what = now.status === 'pending' ? 'it happens at the run’s next bar.'
    : now.status === 'failed' ? `it failed${now.error_code ? ` (${now.error_code})` : ''}.`
    : now.status === 'active' ? 'done, it runs now.' : `done (${now.status} since).`
  return (
    <span className="small" role="status" data-testid="switch-requested">
      Switch #{v.seq} to {versionLabel(v)} requested ({reasonWord(v.reason)}): {what}
    </span>
  )
}

/** Roll back: to the version that ran before this one, asked first. A refusal (409
 * `no_previous_version`, `switch_pending`, …) shows in the panel. */
function Rollback({ run, items }: { run: Run; items: Version[] }) {
  const rollback = useRollback(run.id)
  const [open, setOpen] = useState(false)
  const blocked = rollbackBlocked(items)
  const prev = previousVersion(items)
  const active = activeVersion(items)
  return (
    <>
      <div className="row">
        <button type="button" className="danger" disabled={blocked !== null || rollback.isPending} title={blocked ?? undefined}
          onClick={() => { rollback.reset(); setOpen(true) }} data-testid="rollback">
          Roll back
        </button>
        {blocked && <span className="small" data-testid="rollback-blocked">({blocked})</span>}
        {rollback.data && !rollback.isPending && <Requested v={rollback.data} items={items} />}
      </div>
      {rollback.error && <div data-testid="rollback-error"><ErrorNote error={rollback.error} /></div>}
      {open && (
        <Confirm
          title={`Roll back run #${run.id}?`} confirmLabel="Roll back" busyLabel="Requesting…" testId="rollback-dialog"
          onConfirm={() => rollback.mutate(undefined, { onSettled: () => setOpen(false) })} onClose={() => setOpen(false)} busy={rollback.isPending}
        >
          <p>
            From {active ? <b>{versionLabel(active)}</b> : 'the version running now'} back to{' '}
            {prev ? <><b>{versionLabel(prev)}</b> with <code>{JSON.stringify(prev.params)}</code></> : 'the previous version'}.
          </p>
          <p className="small">It switches at the run’s next bar; the run’s orders and positions stay as they are.</p>
        </Confirm>
      )}
    </>
  )
}

function PromoteVersionForm({ run, items }: { run: Run; items: Version[] }) {
  const promote = usePromote(run.id)
  const id = useId()
  // Only versions of the run's own strategy name can be promoted (else 422 `promote_other_strategy`).
  const versions = useStrategies(run.strategy_name ?? undefined)
  const ready = (versions.data ?? []).filter((s) => s.name === run.strategy_name && s.status === 'ready')
  const current = activeVersion(items)?.strategy_id ?? run.strategy_id
  const [f, setF] = useState<PromoteForm>({ strategy: '', params: paramsText(run.params), state: 'replay', autoRollbackBars: AUTO_ROLLBACK_DEFAULT })
  const [errors, setErrors] = useState<PromoteErrors>({})
  const [asking, setAsking] = useState<PromoteRequest | null>(null)
  const form = useFocusInvalid(errors)
  // Default: the newest ready version other than the one running now.
  const strategy = f.strategy || String(newestOther(ready, current)?.id ?? '')
  const pending = pendingSwitch(items)
  const set = <K extends keyof PromoteForm>(k: K) => (v: PromoteForm[K]) => {
    setF({ ...f, [k]: v })
    setErrors((e) => ({ ...e, [k]: undefined }))
  }
  const submit = (e: FormEvent) => {
    e.preventDefault()
    const r = promoteRequest({ ...f, strategy })
    setErrors(r.ok ? {} : r.errors)
    if (r.ok) setAsking(r.value)
  }
  const picked = ready.find((s) => String(s.id) === strategy)
  return (
    <>
      <form ref={form} className="form" onSubmit={submit} aria-label="Promote a version" noValidate data-testid="promote-form">
        <h3 className="wide">Promote a version</h3>
        <Field id={`${id}-version`} label="Version" error={errors.strategy}>
          <select {...described(`${id}-version`, errors.strategy)} value={strategy} onChange={(e) => set('strategy')(e.target.value)} data-testid="promote-version">
            {ready.length === 0 && <option value="">{versions.isPending ? 'loading…' : 'no ready version'}</option>}
            {ready.map((s) => (
              <option key={s.id} value={s.id}>v{s.version} (#{s.id}){s.id === current ? ' · running now' : ''}</option>
            ))}
          </select>
        </Field>
        <Field id={`${id}-state`} label="State" hint={f.state === 'replay' ? 'the run’s bars so far replayed into it' : 'a warm-up from stored candles'}>
          <select {...described(`${id}-state`, undefined, 'hint')} value={f.state} onChange={(e) => set('state')(e.target.value as PromoteForm['state'])} data-testid="promote-state">
            <option value="replay">replay</option>
            <option value="fresh">fresh</option>
          </select>
        </Field>
        <Field id={`${id}-bars`} label="Auto rollback (bars)" error={errors.autoRollbackBars} hint="0: off">
          <input {...described(`${id}-bars`, errors.autoRollbackBars, 'hint')} inputMode="numeric" value={f.autoRollbackBars}
            onChange={(e) => set('autoRollbackBars')(e.target.value)} data-testid="promote-bars" />
        </Field>
        <div className="wide">
          <Field id={`${id}-params`} label="Params (JSON; empty: the run’s)" error={errors.params}>
            <textarea {...described(`${id}-params`, errors.params)} rows={2} value={f.params} onChange={(e) => set('params')(e.target.value)}
              placeholder='{"fast": 5}' data-testid="promote-params" />
          </Field>
        </div>
        <div className="wide row">
          <button type="submit" disabled={promote.isPending || pending !== undefined} data-testid="promote-submit">
            {promote.isPending ? 'Promoting…' : 'Promote'}
          </button>
          {pending && <span className="small" data-testid="promote-pending">Switch #{pending.seq} to {versionLabel(pending)} is pending.</span>}
          {!pending && promote.data && !promote.isPending && <Requested v={promote.data} items={items} />}
        </div>
        {promote.error && <div className="wide"><ErrorNote error={promote.error} /></div>}
      </form>
      {asking && (
        <Confirm
          title={`Promote ${picked ? `${picked.name} v${picked.version}` : 'this version'} in run #${run.id}?`} confirmLabel="Promote" busyLabel="Requesting…"
          testId="promote-dialog" onConfirm={() => promote.mutate(asking, { onSettled: () => setAsking(null) })} onClose={() => setAsking(null)}
          busy={promote.isPending}
        >
          <p>
            At the run’s next bar it runs this version with {asking.params ? <code>{JSON.stringify(asking.params)}</code> : 'the run’s params'},
            {asking.state === 'fresh' ? ' starting fresh from a warm-up on stored candles' : ' its state rebuilt by replaying the run’s bars so far'}.
          </p>
          <p className="small">
            {asking.auto_rollback_bars === 0
              ? 'No automatic rollback.'
              : `Rolled back automatically if it traps or breaks a risk rule within ${asking.auto_rollback_bars ?? 20} bars.`}{' '}
            The run’s orders and positions stay as they are.
          </p>
        </Confirm>
      )}
    </>
  )
}

const newestOther = (ready: Strategy[], current: number) =>
  [...ready].sort((a, b) => b.id - a.id).find((s) => s.id !== current) ?? ready.find((s) => s.id === current)

/** Promote for a running shadow: its version and params become the run's (asked first). */
export function PromoteShadowButton({ run, shadow, label }: { run: Pick<Run, 'id'>; shadow: Shadow; label: string }) {
  const promote = usePromote(run.id)
  const versions = useVersions(run.id)
  const pending = pendingSwitch(versions.data ?? [])
  const [open, setOpen] = useState(false)
  const close = () => {
    setOpen(false)
    promote.reset()
  }
  return (
    <>
      <button type="button" disabled={pending !== undefined} title={pending ? 'a switch is pending' : undefined}
        onClick={() => setOpen(true)} data-testid={`shadow-promote-${shadow.id}`}>
        Promote
      </button>
      {open && (
        <Confirm
          title={`Promote shadow #${shadow.id} in run #${run.id}?`} confirmLabel="Promote" busyLabel="Requesting…" testId="promote-shadow-dialog"
          onConfirm={() => promote.mutate({ shadow_id: shadow.id })} onClose={close} busy={promote.isPending}
          error={promote.error ? <ErrorNote error={promote.error} /> : null}
          result={promote.data ? <p><Requested v={promote.data} items={versions.data ?? []} /></p> : null}
        >
          <p>At the run’s next bar it runs <b>{label}</b> with <code>{JSON.stringify(shadow.params)}</code>, the shadow’s version and params, its state rebuilt by replaying the run’s bars so far.</p>
          <p className="small">Rolled back automatically if it traps or breaks a risk rule within 20 bars. The run’s orders and positions stay as they are.</p>
        </Confirm>
      )}
    </>
  )
}
