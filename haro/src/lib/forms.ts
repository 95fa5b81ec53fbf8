// Checks of the launch forms' number fields, before anything is sent: an empty optional field is
// left out of the request; anything else must be the number the API accepts, or the field shows
// why ("abc" is an error, never the server's default).

export type Checked = { ok: true; value?: number } | { ok: false; error: string }

export interface NumberRule {
  /** Whole numbers only. */
  integer?: boolean
  /** Smallest value allowed. */
  min?: number
  /** Whether `min` itself is allowed (default: yes). */
  minExclusive?: boolean
  /** Largest value allowed. */
  max?: number
}

/** An optional number field: '' is no value, else a finite number within `rule`. */
export function checkNumber(text: string, rule: NumberRule = {}): Checked {
  const t = text.trim()
  if (!t) return { ok: true }
  const n = Number(t)
  if (!Number.isFinite(n)) return { ok: false, error: `"${t.slice(0, 20)}" is not a number` }
  if (rule.integer && !Number.isInteger(n)) return { ok: false, error: 'a whole number' }
  if (rule.min !== undefined && (rule.minExclusive ? n <= rule.min : n < rule.min))
    return { ok: false, error: rule.minExclusive ? `more than ${rule.min}` : `${rule.min} or more` }
  if (rule.max !== undefined && n > rule.max) return { ok: false, error: `${rule.max} or less` }
  return { ok: true, value: n }
}

/** Checks every field of `rules` in `form`: the values to send, or the errors by field. */
export function checkNumbers<K extends string>(form: Record<K, string>, rules: Partial<Record<K, NumberRule>>):
  { ok: true; values: Partial<Record<K, number>> } | { ok: false; errors: Partial<Record<K, string>> } {
  const values: Partial<Record<K, number>> = {}
  const errors: Partial<Record<K, string>> = {}
  for (const k of Object.keys(rules) as K[]) {
    const c = checkNumber(form[k], rules[k])
    if (c.ok) {
      if (c.value !== undefined) values[k] = c.value
    } else errors[k] = c.error
  }
  return Object.keys(errors).length ? { ok: false, errors } : { ok: true, values }
}

/** Positive money (cash), positive whole sandbox limits. */
export const CASH: NumberRule = { min: 0, minExclusive: true }
export const LIMIT: NumberRule = { integer: true, min: 1 }
/** A run's warm-up in bars (`POST /runs` `warmup`: 0 to 10000). */
export const WARMUP: NumberRule = { integer: true, min: 0, max: 10000 }
