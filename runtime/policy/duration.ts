/**
 * Durations as operators type them: `500ms`, `30s`, `90m`, `24h`, `7d`.
 */

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;

/**
 * Milliseconds of a duration such as `90m`, or null when `text` is not one. A bare number is
 * milliseconds only when `bareMs` says so (a bare number may mean something else to the caller,
 * such as an epoch time).
 * @example parseDurationMs('1.5h') === 5_400_000
 */
export function parseDurationMs(text: string, opts: { bareMs?: boolean } = {}): number | null {
  const m = DURATION_RE.exec(text.trim());
  if (m === null || (m[2] === undefined && opts.bareMs !== true)) return null;
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']!);
}
