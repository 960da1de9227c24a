/**
 * `--retention-age` and `--retention-length` for dev and start.
 */
import { ConfigError, parseDurationMs, type RetentionPolicy } from '../runtime/internal.ts';

export const RETENTION_OPTIONS = { 'retention-age': { type: 'string' }, 'retention-length': { type: 'string' } } as const;

export const RETENTION_HELP = `  --retention-age D  trim processed events older than D (e.g. 90m, 24h, 7d; "off"; default 24h)
  --retention-length N  keep at most N events per partition stream (default: no limit)
                     Trimming never removes an event some function has not completed.`;

/** Parses `90m`, `24h`, `7d`, `500ms` or a bare number of milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const ms = parseDurationMs(text, { bareMs: true });
  if (ms === null) throw new ConfigError(`${flag} must be a duration like 90m, 24h or 7d, got ${JSON.stringify(text)}`);
  return ms;
}

export function retentionPolicy(values: Record<string, unknown>): RetentionPolicy | undefined {
  const age = (values['retention-age'] as string | undefined) ?? '24h';
  const length = values['retention-length'] as string | undefined;
  const policy: RetentionPolicy = {};
  if (age !== 'off') policy.maxAgeMs = parseDuration(age, '--retention-age');
  if (length !== undefined) {
    const n = Number(length);
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--retention-length must be a positive integer, got ${JSON.stringify(length)}`);
    policy.maxLength = n;
  }
  return policy.maxAgeMs === undefined && policy.maxLength === undefined ? undefined : policy;
}

/** Spreads into RuntimeOptions: `{ retention }` when a policy is set. */
export function withRetention(policy: RetentionPolicy | undefined): { retention?: RetentionPolicy } {
  return policy === undefined ? {} : { retention: policy };
}
