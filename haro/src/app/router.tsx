// Client-side routes. Everything but `/` lives under /ui/ so no view path collides with an API
// path: the server answers any other unknown path that asks for HTML with index.html.
import { lazy, Suspense, type ReactNode } from 'react'
import { createBrowserRouter, Link } from 'react-router'
import { Layout } from './layout'
import { Loading } from '../components/ui'
import { Dashboard } from '../views/dashboard'
import { Runs } from '../views/runs'
import { Accounts } from '../views/accounts'
import { AccountDetail } from '../views/account-detail'
import { RunDetail } from '../views/run-detail'
import { Strategies } from '../views/strategies'
import { Backtests } from '../views/backtests'
import { Orders } from '../views/orders'
import { Sweeps } from '../views/sweeps'
import { WalkForwards } from '../views/walkforwards'
import { SettingsView } from '../views/settings'

// The chart views pull in lightweight-charts; load them on demand.
const BacktestDetail = lazy(() => import('../views/backtest-detail'))
const BacktestCompare = lazy(() => import('../views/backtest-compare'))
// The sweep page is lazy like the backtest pages it leads to (its heatmap and tables are only
// needed there).
const SweepDetail = lazy(() => import('../views/sweep-detail'))
const WalkForwardDetail = lazy(() => import('../views/walkforward-detail'))
const Candles = lazy(() => import('../views/candles'))
const later = (el: ReactNode) => <Suspense fallback={<Loading />}>{el}</Suspense>

function NotFound() {
  return (
    <section>
      <h1>Not found</h1>
      <p>No such page. <Link to="/">Back to the dashboard</Link>.</p>
    </section>
  )
}

export const router = createBrowserRouter([
  {
    path: '/',
    element: <Layout />,
    children: [
      { index: true, element: <Dashboard /> },
      { path: 'ui/runs', element: <Runs /> },
      { path: 'ui/runs/:id', element: <RunDetail /> },
      { path: 'ui/accounts', element: <Accounts /> },
      { path: 'ui/accounts/:venue/:number', element: <AccountDetail /> },
      { path: 'ui/strategies', element: <Strategies /> },
      { path: 'ui/backtests', element: <Backtests /> },
      { path: 'ui/backtests/compare', element: later(<BacktestCompare />) },
      { path: 'ui/backtests/:id', element: later(<BacktestDetail />) },
      { path: 'ui/sweeps', element: <Sweeps /> },
      { path: 'ui/sweeps/:id', element: later(<SweepDetail />) },
      { path: 'ui/walkforward', element: <WalkForwards /> },
      { path: 'ui/walkforward/:id', element: later(<WalkForwardDetail />) },
      { path: 'ui/orders', element: <Orders /> },
      { path: 'ui/candles', element: later(<Candles />) },
      { path: 'ui/settings', element: <SettingsView /> },
      { path: '*', element: <NotFound /> },
    ],
  },
])
