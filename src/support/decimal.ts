/**
 * Decimal strings, end to end. Prices and quantities never become JS floats: they are validated and
 * normalised as strings, and compared with exact integer arithmetic on scaled BigInts.
 */
const DECIMAL_RE = /^([+-])?(\d*)(?:\.(\d*))?$/;

export const DEFAULT_SCALE = 8;

/** True when `value` is a plain decimal string such as "142.31", "-0.5" or "12". */
export function isDecimal(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 80) return false;
  const m = DECIMAL_RE.exec(value);
  return !!m && ((m[2] ?? '').length > 0 || (m[3] ?? '').length > 0);
}

/** Scale a decimal string to a BigInt of `scale` fractional digits, rounding half away from zero. */
export function toScaled(value: string, scale = DEFAULT_SCALE): bigint {
  const m = DECIMAL_RE.exec(value);
  if (!m || !isDecimal(value)) throw new TypeError(`Not a decimal string: ${JSON.stringify(value)}`);
  const negative = m[1] === '-';
  const intPart = m[2] || '0';
  const frac = m[3] ?? '';
  const kept = frac.slice(0, scale).padEnd(scale, '0');
  let n = BigInt(intPart + kept);
  if (frac.length > scale && frac.charCodeAt(scale) >= 53 /* '5' */) n += 1n;
  return negative ? -n : n;
}

/** Format a scaled BigInt back to a decimal string with exactly `scale` fractional digits. */
export function fromScaled(n: bigint, scale = DEFAULT_SCALE): string {
  const negative = n < 0n;
  const digits = (negative ? -n : n).toString().padStart(scale + 1, '0');
  const int = digits.slice(0, digits.length - scale);
  const frac = digits.slice(digits.length - scale);
  const out = scale > 0 ? `${int}.${frac}` : int;
  return negative && n !== 0n ? `-${out}` : out;
}

/**
 * Normalise a decimal to a fixed scale ("142.31" → "142.31000000"), so that SQLite, PostgreSQL and MySQL
 * all store and return the same string. Returns null for anything that is not a decimal string.
 */
export function normalizeDecimal(value: unknown, scale = DEFAULT_SCALE): string | null {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return null; // floats are refused on purpose: use strings
    value = String(value);
  }
  if (typeof value === 'bigint') value = value.toString();
  if (!isDecimal(value)) return null;
  return fromScaled(toScaled(value, scale), scale);
}

function fracDigits(v: string): number {
  const i = v.indexOf('.');
  return i < 0 ? 0 : v.length - i - 1;
}

/** Compare two decimal strings exactly: -1, 0 or 1. */
export function compareDecimal(a: string, b: string): number {
  const scale = Math.max(fracDigits(a), fracDigits(b));
  const x = toScaled(a, scale);
  const y = toScaled(b, scale);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** True for a decimal string strictly greater than zero. */
export function isPositiveDecimal(value: unknown): value is string {
  return isDecimal(value) && toScaled(value) > 0n;
}

/** True when a and b differ by at most `ratio` (e.g. 0.001 for 0.1 %) of the larger magnitude. */
export function decimalsWithin(a: string, b: string, ratio: number): boolean {
  const scale = 12;
  const x = toScaled(a, scale);
  const y = toScaled(b, scale);
  const diff = x > y ? x - y : y - x;
  const ax = x < 0n ? -x : x;
  const ay = y < 0n ? -y : y;
  const base = ax > ay ? ax : ay;
  if (base === 0n) return diff === 0n;
  // diff / base <= ratio, computed in integers with ratio expressed in parts per 10^9
  const ppb = BigInt(Math.round(ratio * 1e9));
  return diff * 1_000_000_000n <= base * ppb;
}
