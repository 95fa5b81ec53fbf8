/// <reference types="vitest/config" />
import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'
import { compression } from 'vite-plugin-compression2'

declare const process: { env: Record<string, string | undefined> }

// The API's top-level paths. The dashboard's own routes live under /ui/ (and / itself), so they
// never collide with these: `npm run dev` proxies exactly these to a running `weaver serve`.
const API = ['/healthz', '/readyz', '/openapi.json', '/metrics', '/strategies', '/backtests',
  '/candles', '/orders', '/events', '/runs', '/trading-state', '/accounts', '/positions',
  '/notifications', '/venues', '/sweeps', '/walkforward']
const target = process.env.WEAVER_URL ?? 'http://127.0.0.1:8080'

export default defineConfig({
  // A .gz and a .br beside every text file of the build: `weaver serve` sends them as they are to
  // clients that accept them (glados/dashboard.rs), so nothing is compressed per request.
  plugins: [react(), compression({ algorithms: ['gzip', 'brotliCompress'], skipIfLargerOrEqual: true })],
  server: {
    proxy: Object.fromEntries(API.map((p) => [p, { target, changeOrigin: false }])),
  },
  // 15 s a test rather than 5: CI runs the suite on 2 cores beside a niced release build, where a
  // test of ~150 ms alone once took over 5 s to get its turn.
  test: { environment: 'node', include: ['src/**/*.test.{ts,tsx}'], testTimeout: 15_000 },
})
