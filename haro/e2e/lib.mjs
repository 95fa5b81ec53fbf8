// Shared by the end-to-end scripts: paths, preflight checks, a `weaver serve` on an empty temp
// data dir (SQLite, port 0, its address read back from the JSON log), and headless chromium with
// console errors collected.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import AxeBuilder from '@axe-core/playwright'
import { chromium } from 'playwright-core'

export const haro = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const root = resolve(haro, '..')
export const shots = join(haro, 'test-results')
/** Screenshots kept as CI artifacts (views-walk.mjs; git-ignored; .ci/run keeps the folder). */
export const artifacts = join(haro, 'e2e-artifacts')
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'
export const BIN = process.env.WEAVER_BIN
  ? resolve(process.env.WEAVER_BIN)
  : join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'debug', 'weaver')
export const T = 30_000

export function need(path, what) {
  if (!existsSync(path)) {
    console.error(`e2e: ${what} is missing: ${path}`)
    process.exit(2)
  }
}

/** What every scenario needs: chromium, the binary, the built dashboard. */
export function needBasics() {
  need(CHROMIUM, 'chromium (apt-get install -y chromium)')
  need(BIN, 'the weaver binary (cargo build --bin weaver, or set WEAVER_BIN)')
  need(join(haro, 'dist/index.html'), 'the built dashboard (scripts/build-haro.sh)')
  mkdirSync(shots, { recursive: true })
}

/**
 * Starts `weaver serve` on a fresh temp data dir with `env` on top of the caller's environment
 * (SQLite in that dir whatever the caller's says; port 0). Resolves once the server logs the
 * address it bound. Warnings and errors from its log are passed through to stderr.
 */
export async function startServer(extra = {}) {
  const data = mkdtempSync(join(tmpdir(), 'haro-e2e-'))
  const env = {
    ...process.env,
    WEAVER_DATA_DIR: data,
    WEAVER_BIND: '127.0.0.1:0',
    WEAVER_LOG: 'info',
    WEAVER_LOG_FORMAT: 'json',
    ...extra,
  }
  delete env.WEAVER_DATABASE_URL
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k]
  const child = spawn(BIN, ['serve'], { env, cwd: data, stdio: ['ignore', 'ignore', 'pipe'] })
  const log = []
  let exit = null
  const exited = new Promise((r) => child.on('exit', (code, signal) => r((exit = code ?? signal))))
  const addr = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`weaver serve did not start within 60 s:\n${log.join('\n')}`)), 60_000)
    exited.then((code) => {
      clearTimeout(timer)
      fail(new Error(`weaver serve exited with ${code}:\n${log.join('\n')}`))
    })
    createInterface({ input: child.stderr }).on('line', (line) => {
      log.push(line)
      let v = null
      try {
        v = JSON.parse(line)
      } catch {
        // not JSON: pass it on
      }
      if (!v || /WARN|ERROR/.test(String(v.level))) console.error(`  weaver: ${line}`)
      const a = v?.addr ?? v?.fields?.addr
      if (a && String(v.message ?? v.fields?.message).includes('weaver serving the API')) {
        clearTimeout(timer)
        ok(a)
      }
    })
  })
  return {
    base: `http://${addr}`,
    data,
    log,
    exited: () => exit !== null,
    async stop() {
      if (exit === null) {
        child.kill('SIGTERM')
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))])
        if (exit === null) child.kill('SIGKILL')
      }
      rmSync(data, { recursive: true, force: true })
    },
  }
}

/** The keys the fake Alpaca is started with (test keys of a local fake, not secrets). */
const FAKE_KEYS = { APCA_API_KEY_ID: 'FAKEKEYID', APCA_API_SECRET_KEY: 'FAKESECRET' }

/**
 * Starts the local fake of Alpaca (`weaver fake-alpaca`, port 0) as its own process. Resolves
 * with its address, the environment that points `weaver serve` at it (`env`), `order(body)` to
 * trade at the broker directly (an order Weaver did not place), and `stop()`.
 */
export async function startFakeAlpaca() {
  const child = spawn(BIN, ['fake-alpaca', '--bind', '127.0.0.1:0', '--rate-limit', '0'], {
    env: { ...process.env, ...FAKE_KEYS, WEAVER_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const log = []
  let exit = null
  const exited = new Promise((r) => child.on('exit', (code, signal) => r((exit = code ?? signal))))
  createInterface({ input: child.stderr }).on('line', (line) => {
    log.push(line)
    console.error(`  fake-alpaca: ${line}`)
  })
  const addr = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`weaver fake-alpaca did not start within 30 s:\n${log.join('\n')}`)), 30_000)
    exited.then((code) => {
      clearTimeout(timer)
      fail(new Error(`weaver fake-alpaca exited with ${code} (a binary built without the fake-alpaca feature?):\n${log.join('\n')}`))
    })
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /listening on http:\/\/(\S+)/.exec(line)
      if (m) {
        clearTimeout(timer)
        ok(m[1])
      }
    })
  })
  return {
    addr,
    env: {
      ...FAKE_KEYS,
      APCA_API_BASE_URL: `http://${addr}`,
      APCA_API_DATA_URL: `http://${addr}`,
      APCA_API_STREAM_URL: `ws://${addr}/stream`,
      APCA_API_DATA_STREAM_URL: `ws://${addr}`,
    },
    async order(body) {
      const res = await fetch(`http://${addr}/v2/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'APCA-API-KEY-ID': FAKE_KEYS.APCA_API_KEY_ID, 'APCA-API-SECRET-KEY': FAKE_KEYS.APCA_API_SECRET_KEY },
        body: JSON.stringify(body),
      })
      const answer = await res.json().catch(() => null)
      if (!res.ok) throw new Error(`the fake refused ${JSON.stringify(body)}: ${res.status} ${JSON.stringify(answer)}`)
      return answer
    },
    async stop() {
      if (exit === null) {
        child.kill('SIGINT')
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))])
        if (exit === null) child.kill('SIGKILL')
      }
    },
  }
}

/**
 * Headless chromium with a throwaway profile. `errors` collects page errors and console errors,
 * except those `ignore(text, url)` accepts (expected failures).
 */
export async function startBrowser(ignore = () => false) {
  const profile = mkdtempSync(join(tmpdir(), 'haro-chromium-'))
  const errors = []
  const state = { step: 'start' }
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 860 },
  })
  const page = ctx.pages()[0] ?? (await ctx.newPage())
  page.setDefaultTimeout(T)
  page.on('pageerror', (e) => errors.push(`[${state.step}] page error: ${e}`))
  page.on('console', (m) => {
    if (m.type() !== 'error') return
    const url = m.location()?.url ?? ''
    const text = m.text()
    if (ignore(text, url)) return
    errors.push(`[${state.step}] console: ${text} ${url}`)
  })
  return {
    ctx,
    page,
    errors,
    state,
    async close() {
      await ctx.close().catch(() => {})
      rmSync(profile, { recursive: true, force: true })
    },
  }
}

/** A link of the top navigation (other links may share its name). */
export const nav = (page, name) => page.getByRole('navigation').getByRole('link', { name, exact: true })

export function checker() {
  const checks = []
  return {
    checks,
    ok(what) {
      checks.push(what)
      console.log(`  ✓ ${what}`)
    },
  }
}

/** Runs a scenario: on failure, a screenshot of the page named after the step, exit code 1. */
export async function scenario(name, body) {
  let server
  let browser
  let fake
  try {
    await body({
      start: async (env) => (server = await startServer(env)),
      browser: async (ignore) => (browser = await startBrowser(ignore)),
      fakeAlpaca: async () => (fake = await startFakeAlpaca()),
    })
  } catch (e) {
    const step = browser?.state.step ?? 'start'
    console.error(`${name} failed at step "${step}": ${e?.stack ?? e}`)
    if (browser?.errors.length) console.error(browser.errors.join('\n'))
    try {
      if (browser) await browser.page.screenshot({ path: join(shots, `failure-${name}-${step}.png`), fullPage: true })
    } catch {
      // best effort
    }
    process.exitCode = 1
  } finally {
    await browser?.close()
    await server?.stop()
    // After the server, which would otherwise log the fake's going away.
    await fake?.stop()
  }
}

/**
 * Until `f()` (in Node, may be async) returns something truthy, every 500 ms, for at most `ms`;
 * returns that value. For conditions that need a request: Playwright's `waitForFunction` takes
 * the Promise an async predicate returns as its truthy answer and stops waiting at once.
 */
export async function until(what, f, ms = 180_000) {
  const end = Date.now() + ms
  for (;;) {
    const v = await f()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 500))
  }
}

/** Until the view has stopped loading: no busy indicator in the page, then two frames. */
export async function settle(page) {
  await page.waitForFunction(() => !document.querySelector('main [aria-busy=true]'), null, { timeout: 120_000 })
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))))
}

/**
 * axe-core over the page: every rule it has (WCAG 2.x and best practices), or with
 * `contrastOnly` the colour rules alone (another theme changes colours, not structure). Returns
 * the serious and critical violations, each in one line with the first nodes it names.
 */
export async function a11y(page, { contrastOnly = false } = {}) {
  // Rows past the 20th of a table are the same component over other data: checking every one
  // of a 100-row page costs axe half a minute on 2 busy cores and finds nothing more.
  let axe = new AxeBuilder({ page }).options({ resultTypes: ['violations'] }).exclude('tbody tr:nth-child(n+21)')
  if (contrastOnly) axe = axe.withRules(['color-contrast', 'link-in-text-block'])
  const result = await axe.analyze()
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `axe ${v.id} (${v.impact}): ${v.help}; ${v.nodes.length} node(s): ${v.nodes.slice(0, 3)
      .map((n) => `${n.target.join(' ')}${n.any[0]?.message ? ` (${n.any[0].message})` : ''}`).join(' | ')}`)
}

/** Null when nothing is wider than the viewport, else by how much and the widest culprits
 * (elements past the right edge that no scrolling box of theirs clips). */
export async function noOverflow(page) {
  return page.evaluate(() => {
    const w = window.innerWidth
    const over = document.documentElement.scrollWidth - w
    if (over <= 0) return null
    const clipped = (el) => {
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) if (getComputedStyle(p).overflowX !== 'visible') return true
      return false
    }
    const culprits = [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > w + 1 && !clipped(el))
      .slice(0, 5)
      .map((el) => `${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : ''} (right edge ${Math.round(el.getBoundingClientRect().right)})`)
    return `${over}px wider than the ${w}px viewport: ${culprits.join(', ')}`
  })
}

/**
 * Keyboard only, from the top of a freshly loaded page: Tab until `primary` (a CSS selector) has
 * the focus, opening the navigation menu with Enter when its button (phone width) is reached.
 * `problem` names what failed: a main navigation link or the primary action never reached, or
 * an element focused without a visible focus ring (an outline or a box shadow).
 */
export async function keyboardWalk(page, primary, max = 80) {
  const links = await page.locator('header nav a').evaluateAll((as) => as.map((a) => a.getAttribute('href')))
  const reached = new Set()
  const unringed = []
  let found = false
  let opened = false
  let tabs = 0
  while (tabs < max && !found) {
    await page.keyboard.press('Tab')
    tabs += 1
    const f = await page.evaluate((primary) => {
      const el = document.activeElement
      if (!el || el === document.body) return null
      const cs = getComputedStyle(el)
      return {
        nav: el.closest('header nav') ? el.getAttribute('href') : null,
        menu: el.matches('header button.menu') && el.getAttribute('aria-expanded') === 'false',
        primary: el.matches(primary),
        // A date or time field's focus is on one of its inner parts (day, month, …), which
        // chromium highlights itself; the field never shows the page's outline.
        ring: (cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0) || cs.boxShadow !== 'none'
          || el.matches('input[type=date], input[type=time], input[type=datetime-local]'),
        what: `${el.tagName.toLowerCase()}${el.getAttribute('name') ? `[name=${el.getAttribute('name')}]` : ''}${el.getAttribute('type') ? `[type=${el.getAttribute('type')}]` : ''} "${(el.getAttribute('aria-label') ?? el.textContent ?? '').trim().slice(0, 30)}"`,
      }
    }, primary)
    if (!f) continue
    if (!f.ring) unringed.push(f.what)
    if (f.nav) reached.add(f.nav)
    if (f.menu && !opened) {
      opened = true
      await page.keyboard.press('Enter')
    }
    found = f.primary
  }
  // Close the menu again (the screenshots show the page, not the menu).
  if (opened && (await page.locator('header button.menu[aria-expanded=true]').count())) await page.locator('header button.menu').click()
  const missed = links.filter((l) => !reached.has(l))
  const problem = [
    missed.length ? `Tab never reached the nav links ${missed.join(', ')}` : '',
    found ? '' : `Tab never reached the primary action (${primary}) in ${max} presses`,
    unringed.length ? `focused without a visible focus ring: ${[...new Set(unringed)].slice(0, 5).join(', ')}` : '',
  ].filter(Boolean).join('; ')
  return { tabs, problem: problem || null }
}
