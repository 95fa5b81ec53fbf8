// The "Overfitting" card of a sweep's and a walk-forward's page: the deflated Sharpe ratio, the
// Sharpe ratio the best of N trials would show by luck, and the probability of backtest
// overfitting, each in words with a tooltip saying what it is.
import type { Overfitting } from '../api/walkforward'
import { fmtNumber } from '../lib/format'
import { dsrLine, pboLine } from '../lib/walkforward'

export const TIPS = {
  trials: 'How many parameter sets were tried. The more trials, the higher the best Sharpe ratio luck alone produces, so the more the best one must be discounted.',
  dsr: 'Deflated Sharpe ratio (Bailey & López de Prado, 2014): the probability that the best point\'s true Sharpe ratio is above the Sharpe ratio the best of this many unskilled trials would show by chance, corrected for the sample length, skewness and fat tails of its returns. Near 100 % is convincing; 50 % or less is what luck looks like.',
  expected: 'The Sharpe ratio (per bar, not annualised) the best of this many trials is expected to reach by luck alone, given how much the trials\' Sharpe ratios vary. The best point has to clear it.',
  pbo: 'Probability of backtest overfitting (combinatorially symmetric cross-validation): the bars are cut into blocks; for every way of taking half of them as in-sample, the best in-sample point is ranked on the other half. PBO is the share of splits where it ranks below the median. Near 0 is good; 50 % or more means picking the in-sample best is no better than picking at random.',
} as const

/** A term with its explanation on hover and on focus (the title is also read out). */
export function Term({ label, tip }: { label: string; tip: string }) {
  return <span className="term" title={tip} tabIndex={0} data-testid="term">{label} <span className="term-i" aria-hidden="true">?</span></span>
}

/** `pending`: the trials are still running (null then means "not yet", not "not computable"). */
export function OverfittingCard({ o, pending }: { o: Overfitting | null | undefined; pending?: boolean }) {
  return (
    <div className="card overfitting" data-testid="overfitting">
      <h3>Overfitting</h3>
      {!o ? <p className="empty">{pending ? 'Computed once the trials have finished.' : 'Not computed: too few finished trials.'}</p> : (
        <>
          <dl className="metrics">
            <div><dt><Term label="Trials" tip={TIPS.trials} /></dt><dd data-testid="of-trials">{o.trials}</dd></div>
            {o.deflated_sharpe && (
              <>
                <div><dt><Term label="Deflated Sharpe" tip={TIPS.dsr} /></dt>
                  <dd data-testid="of-dsr">{fmtNumber(o.deflated_sharpe.dsr * 100, 1)} %</dd></div>
                <div><dt>Best Sharpe (per bar)</dt><dd data-testid="of-sharpe">{fmtNumber(o.deflated_sharpe.sharpe, 3)}</dd></div>
                <div><dt><Term label={`Expected max Sharpe of ${o.trials} trials`} tip={TIPS.expected} /></dt>
                  <dd data-testid="of-expected">{fmtNumber(o.deflated_sharpe.expected_max_sharpe, 3)}</dd></div>
              </>
            )}
            {o.pbo && (
              <div><dt><Term label="PBO" tip={TIPS.pbo} /></dt>
                <dd data-testid="of-pbo">{fmtNumber(o.pbo.pbo * 100, 1)} %<span className="small"> ({o.pbo.partitions} blocks)</span></dd></div>
            )}
          </dl>
          {o.deflated_sharpe && <p className="small" data-testid="of-dsr-line">{dsrLine(o.deflated_sharpe.dsr)}</p>}
          {o.pbo && <p className="small" data-testid="of-pbo-line">{pboLine(o.pbo.pbo)}</p>}
          {o.note && <p className="note" data-testid="of-note">{o.note}</p>}
        </>
      )}
    </div>
  )
}
