// The dashboard's weight, compressed: the first load (index.html and every script and stylesheet
// the browser fetched to show the Dashboard page) and the Backtests page with 100 backtests stored
// loaded by itself (the API responses it fetches, plus index.html and the code it loads). Budgets:
// 150 KB and 200 KB.
//
//   node haro/scripts/weight.mjs      (scripts/bench-haro-weight.sh builds what it needs first)
//
// A real `weaver serve` (sample data, the example strategies, 100 sma-cross backtests queued
// through POST /backtests) and headless chromium record which URLs a page fetches; each is then
// fetched again with `Accept-Encoding: br` and with `gzip` (node:http, which does not decode) and
// its bytes on the wire counted, so the figures do not depend on what chromium advertises over
// plain HTTP. The event stream is left out (it never ends). KB = 1000 bytes.
import http from 'node:http'
import { join } from 'node:path'
import { needBasics, need, root, startBrowser, startServer } from '../e2e/lib.mjs'

const EXAMPLES = join(root, 'strategies/dist')
const BACKTESTS = 100
const BUDGET_FIRST = 150_000
const BUDGET_BACKTESTS = 200_000

needBasics()
need(join(EXAMPLES, 'sma-cross.wasm'), 'the example strategies (scripts/build-strategies.sh)')

/** Bytes of a response body as sent with `encoding` (undecoded), and the encoding used. */
function wire(url, encoding) {
  return new Promise((ok, fail) => {
    http.get(url, { headers: { 'accept-encoding': encoding } }, (res) => {
      let n = 0
      res.on('data', (c) => (n += c.length))
      res.on('end', () => ok({ bytes: n, encoding: res.headers['content-encoding'] ?? 'identity', status: res.statusCode }))
    }).on('error', fail)
  })
}

async function weigh(urls) {
  const out = { br: 0, gzip: 0, identity: 0, rows: [] }
  for (const u of urls) {
    const [br, gz, id] = [await wire(u, 'br'), await wire(u, 'gzip'), await wire(u, 'identity')]
    out.br += br.bytes
    out.gzip += gz.bytes
    out.identity += id.bytes
    out.rows.push({ url: u.replace(/^https?:\/\/[^/]+/, ''), br: br.bytes, gzip: gz.bytes, identity: id.bytes })
  }
  return out
}

const kb = (n) => `${(n / 1000).toFixed(1)} KB`
const api = async (base, path, init) => {
  const res = await fetch(`${base}${path}`, init)
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
  return res.json()
}

const server = await startServer({
  WEAVER_STRATEGIES_DIR: EXAMPLES,
  WEAVER_SAMPLE_DATA: undefined,
  WEAVER_API_KEY: undefined,
})
let browser
try {
  const { base } = server
  // 100 backtests of the example strategy on the sample daily bars.
  for (let t = 0; ; t++) {
    const s = await api(base, '/strategies?name=sma-cross')
    if (s.some((x) => x.status === 'ready')) break
    if (t > 600) throw new Error('sma-cross never became ready')
    await new Promise((r) => setTimeout(r, 200))
  }
  for (let i = 0; i < BACKTESTS; i++) {
    await api(base, '/backtests', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ strategy: 'sma-cross', symbols: ['SAMPLE'], timeframe: '1Day', params: { fast: 5 + (i % 10), slow: 20 + (i % 7) } }),
    })
  }
  for (let t = 0; ; t++) {
    const list = await api(base, `/backtests?limit=${BACKTESTS}`)
    if (list.length === BACKTESTS && list.every((b) => b.status === 'done' || b.status === 'failed')) break
    if (t > 1200) throw new Error('the backtests did not finish in 10 minutes')
    await new Promise((r) => setTimeout(r, 500))
  }

  browser = await startBrowser()
  const { page } = browser
  const seen = []
  page.on('request', (r) => seen.push({ url: r.url(), type: r.resourceType() }))
  // First load: the Dashboard page, then 3 s for what it fetches (the open event stream means the
  // network never goes idle).
  await page.goto(`${base}/`, { waitUntil: 'load' })
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor()
  await page.waitForTimeout(3000)
  const isStatic = (x) => x.type === 'document' || x.type === 'script' || x.type === 'stylesheet'
  const isApi = (x) => (x.type === 'fetch' || x.type === 'xhr') && !x.url.includes('/events/stream')
  const first = [...new Set(seen.filter(isStatic).map((x) => x.url))]
  const firstApi = [...new Set(seen.filter(isApi).map((x) => x.url))]
  // The Backtests page loaded by itself (a reload or a link to it): everything it fetches.
  seen.length = 0
  await page.goto(`${base}/ui/backtests`, { waitUntil: 'load' })
  await page.getByRole('heading', { name: 'Backtests' }).first().waitFor()
  await page.waitForTimeout(3000)
  const btApi = [...new Set(seen.filter(isApi).map((x) => x.url))]
  const btCode = [...new Set(seen.filter(isStatic).map((x) => x.url))]

  const a = await weigh(first)
  const b = await weigh(firstApi)
  const c = await weigh(btApi)
  const d = await weigh(btCode)
  const line = (name, w) => console.log(`${name.padEnd(44)} br ${kb(w.br).padStart(9)}  gzip ${kb(w.gzip).padStart(9)}  raw ${kb(w.identity).padStart(9)}`)
  console.log('files:')
  for (const r of [...a.rows, ...d.rows, ...b.rows, ...c.rows]) console.log(`  ${r.url.slice(0, 60).padEnd(60)} br ${kb(r.br)} gzip ${kb(r.gzip)} raw ${kb(r.identity)}`)
  line('first load: index.html + scripts + styles', a)
  line('first load: its API calls', b)
  line(`Backtests page (${BACKTESTS} stored): API`, c)
  line('Backtests page: index.html + scripts + styles', d)
  const firstBr = a.br
  const btBr = c.br + d.br
  console.log(`first load ${kb(firstBr)} br (budget ${kb(BUDGET_FIRST)}): ${firstBr <= BUDGET_FIRST ? 'within' : `OVER by ${kb(firstBr - BUDGET_FIRST)}`}`)
  console.log(`Backtests page ${kb(btBr)} br (its API calls + index.html, scripts, styles; budget ${kb(BUDGET_BACKTESTS)}): ${btBr <= BUDGET_BACKTESTS ? 'within' : `OVER by ${kb(btBr - BUDGET_BACKTESTS)}`}`)
} finally {
  await browser?.close()
  await server.stop()
}
