// A sparkline: a tiny inline SVG line of a few values (a run's equity in the run list). Plain SVG,
// not the chart library, so a list page carries no chart code.
import { sparkPoints } from '../lib/run-charts'
import { DOWN, UP } from '../lib/trades'

export function Sparkline({ values, width = 96, height = 24, label, testId }: {
  values: readonly number[]; width?: number; height?: number; label: string; testId?: string
}) {
  if (values.length < 2) return <span className="muted small" data-testid={testId}>—</span>
  const up = values[values.length - 1] >= values[0]
  return (
    <svg className="spark" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label} data-testid={testId}>
      <polyline fill="none" stroke={up ? UP : DOWN} strokeWidth="1.5" points={sparkPoints(values, width, height)} />
    </svg>
  )
}
