// Strategies: upload a .wasm component (drag and drop or file picker); validation errors show
// the server's message and correlation id. Versions listed per name, with compile status.
import { useRef, useState, type DragEvent } from 'react'
import { useDisableStrategy, useStrategies, useUploadStrategy } from '../api/queries'
import type { Strategy } from '../api/types'
import { Chip, Empty, ErrorNote, QueryState, scrollable } from '../components/ui'
import { fmtBytes, fmtTime, shortHash } from '../lib/format'

/** `sma-cross.wasm` → `sma-cross`. */
export const nameFromFile = (file: string) => file.replace(/\.wasm$/i, '').replace(/[^A-Za-z0-9_.-]+/g, '-')

export function Strategies() {
  const q = useStrategies()
  return (
    <section>
      <h1>Strategies</h1>
      <Upload />
      <QueryState q={q}>
        {() => (q.data!.length === 0 ? <Empty>No strategies yet: upload a component above.</Empty> : <StrategyTable rows={q.data!} />)}
      </QueryState>
    </section>
  )
}

function Upload() {
  const upload = useUploadStrategy()
  const list = useStrategies()
  const input = useRef<HTMLInputElement>(null)
  const [over, setOver] = useState(false)
  const [file, setFile] = useState<File | null>(null)
  const [name, setName] = useState('')
  // Whether Name is still what a file gave it (or empty): then it follows the next file picked.
  // A name typed by hand stays for the file it was typed for, until that file is uploaded.
  const [named, setNamed] = useState<'file' | 'hand'>('file')
  const [version, setVersion] = useState('')

  const pick = (f: File | undefined) => {
    if (!f) return
    setFile(f)
    if (named === 'file' || !name.trim()) {
      setName(nameFromFile(f.name))
      setNamed('file')
    }
    upload.reset()
  }
  const onDrop = (e: DragEvent) => {
    e.preventDefault()
    setOver(false)
    pick(e.dataTransfer.files[0])
  }
  const send = () =>
    file && upload.mutate({ file, name: name.trim(), version: version.trim() || undefined }, { onSuccess: () => setNamed('file') })

  return (
    <div className="form">
      <div
        className={`drop wide${over ? ' over' : ''}`}
        data-testid="dropzone"
        onDragOver={(e) => { e.preventDefault(); setOver(true) }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
        onClick={() => input.current?.click()}
        role="button"
        tabIndex={0}
        onKeyDown={(e) => (e.key === 'Enter' || e.key === ' ') && input.current?.click()}
      >
        {file ? <>Selected <b>{file.name}</b> ({fmtBytes(file.size)})</> : <>Drop a <code>.wasm</code> component here, or click to choose one</>}
        <input ref={input} type="file" accept=".wasm,application/wasm" hidden data-testid="file-input" onChange={(e) => pick(e.target.files?.[0])} />
      </div>
      <label>Name<input name="name" value={name} onChange={(e) => { setName(e.target.value); setNamed(e.target.value.trim() ? 'hand' : 'file') }} placeholder="from the file name" /></label>
      <label>Version (optional)<input value={version} onChange={(e) => setVersion(e.target.value)} placeholder="hash prefix" /></label>
      <div className="row">
        <button className="primary" type="button" disabled={!file || !name.trim() || upload.isPending} onClick={send}>
          {upload.isPending ? 'Uploading…' : 'Upload'}
        </button>
      </div>
      {upload.error && <div className="wide"><ErrorNote error={upload.error} /></div>}
      {upload.data && <Uploaded s={list.data?.find((x) => x.id === upload.data.id) ?? upload.data} />}
    </div>
  )
}

/** The uploaded component's status as it changes (compiling → ready | rejected). */
function Uploaded({ s }: { s: Strategy }) {
  return (
    <p className="wide" data-testid="upload-ok">
      Uploaded <b>{s.name}</b> {s.version} (#{s.id}): <Chip value={s.status} />
      {s.status === 'compiling' || s.status === 'uploaded' ? ', compiling in the background.' : s.error ? <> {s.error}</> : null}
    </p>
  )
}

function StrategyTable({ rows }: { rows: Strategy[] }) {
  const disable = useDisableStrategy()
  // Group versions under their name, newest version first.
  const names = [...new Set(rows.map((r) => r.name))].sort()
  return (
    <>
      {disable.error && <ErrorNote error={disable.error} what="Disabling strategies" />}
      <div className="table-wrap" {...scrollable('Strategies')}>
        <table data-testid="strategies-table">
          <thead>
            <tr><th>Name</th><th>Version</th><th className="num">Id</th><th>Language</th><th className="num">Size</th><th>sha256</th><th>Status</th><th>Uploaded</th><th /></tr>
          </thead>
          <tbody>
            {names.flatMap((n) =>
              rows.filter((r) => r.name === n).sort((a, b) => b.id - a.id).map((s, i) => (
                <tr key={s.id} data-testid="strategy-row">
                  <td>{i === 0 ? <b>{s.name}</b> : ''}</td>
                  <td>{s.version}</td>
                  <td className="num">{s.id}</td>
                  <td>{s.language ?? '—'}</td>
                  <td className="num">{fmtBytes(s.size_bytes)}</td>
                  <td><code title={s.sha256}>{shortHash(s.sha256)}</code></td>
                  <td><Chip value={s.status} />{s.error && <div className="small neg">{s.error}</div>}</td>
                  <td>{fmtTime(s.created_at)}</td>
                  <td>{s.status !== 'disabled' && (
                    <button type="button" className="ghost danger" disabled={disable.isPending} onClick={() => disable.mutate(s.id)}>Disable</button>
                  )}</td>
                </tr>
              )),
            )}
          </tbody>
        </table>
      </div>
    </>
  )
}
