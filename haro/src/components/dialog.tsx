// A modal dialog for confirmations: rendered over the page (a portal into <body>, so it works
// from a table cell or a heading), focus moved into it, Escape or the backdrop closes it unless
// an action is in flight. Every control that trades or stops something asks through it first.
import { useEffect, useId, useRef, type ReactNode } from 'react'
import { createPortal } from 'react-dom'

export function Dialog({ title, onClose, busy, children, testId }: {
  title: string
  onClose: () => void
  /** While set, the dialog cannot be dismissed (a request is in flight). */
  busy?: boolean
  children: ReactNode
  testId?: string
}) {
  const id = useId()
  const panel = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null
    panel.current?.focus()
    return () => before?.focus?.()
  }, [])
  const close = () => {
    if (!busy) onClose()
  }
  return createPortal(
    <div className="backdrop" onClick={(e) => e.target === e.currentTarget && close()}>
      <div
        className="dialog" role="dialog" aria-modal="true" aria-labelledby={`${id}-title`} tabIndex={-1} ref={panel}
        data-testid={testId} onKeyDown={(e) => e.key === 'Escape' && (e.stopPropagation(), close())}
      >
        <h2 id={`${id}-title`}>{title}</h2>
        {children}
      </div>
    </div>,
    document.body,
  )
}

/**
 * Asks before doing something: the question, what will happen, a danger button that runs
 * `onConfirm`, and "Back". While `busy`, the buttons wait; `error` shows under the text. Once
 * `result` is set, the dialog shows it with a "Done" button instead.
 */
export function Confirm({ title, confirmLabel, busyLabel, onConfirm, onClose, busy, error, result, children, testId }: {
  title: string
  confirmLabel: string
  busyLabel?: string
  onConfirm: () => void
  onClose: () => void
  busy?: boolean
  error?: ReactNode
  result?: ReactNode
  children?: ReactNode
  testId?: string
}) {
  return (
    <Dialog title={title} onClose={onClose} busy={busy} testId={testId}>
      {result ? (
        <>
          {result}
          <div className="row actions">
            <button type="button" className="primary" onClick={onClose}>Done</button>
          </div>
        </>
      ) : (
        <>
          {children}
          {error}
          <div className="row actions">
            <button type="button" className="danger" disabled={busy} onClick={onConfirm}>{busy ? (busyLabel ?? 'Working…') : confirmLabel}</button>
            <button type="button" disabled={busy} onClick={onClose}>Back</button>
          </div>
        </>
      )}
    </Dialog>
  )
}
