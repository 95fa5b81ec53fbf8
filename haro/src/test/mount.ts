// Renders a view for a jsdom test as the app runs it: a fresh QueryClient that does not retry
// (a stubbed failure shows at once), a MemoryRouter at `path`, into a div of the document.
// `unmountApp` (each file's `afterEach`) unmounts it and removes the div.
import { act, createElement as h, type ReactNode } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { MemoryRouter } from 'react-router'

;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true

let root: Root | null = null
let host: HTMLElement | null = null

export function mountApp(node: ReactNode, path = '/'): { el: HTMLElement; qc: QueryClient } {
  const el = document.createElement('div')
  document.body.append(el)
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } })
  root = createRoot(el)
  host = el
  act(() => root!.render(h(QueryClientProvider, { client: qc }, h(MemoryRouter, { initialEntries: [path] }, node))))
  return { el, qc }
}

export function unmountApp() {
  act(() => root?.unmount())
  root = null
  host?.remove()
  host = null
}
