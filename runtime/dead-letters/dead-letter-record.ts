/**
 * The shape of a dead letter: the original event (or the raw fields of a malformed entry) plus
 * what failed, where, how often and when. Stored as one stream entry in the function's DLQ of the
 * event's partition, so it is written atomically with the ack.
 */
import type { DecodedEntry } from '../events/wire.ts';
import { isMalformed } from '../events/wire.ts';
import type { SerializedError } from '../types.ts';

/**
 * `failed`: its last attempt failed; `non-retriable`: it threw a NonRetriableError; `expired`: older
 * than the function's maxEventAgeMs; `loop`: emitted more than maxHops generations deep;
 * `malformed`: the stream entry is not a valid event.
 */
export type DeadLetterReason = 'failed' | 'non-retriable' | 'expired' | 'loop' | 'malformed';

/** A dead letter as the DLQ API returns it. */
export interface DeadLetter {
  /** `<partition>:<dlq entry id>`: what `show`, `replay` and `purge` take. */
  id: string;
  partition: number;
  /** The original event's stream id. */
  eventId: string;
  function: string;
  version: string;
  reason: DeadLetterReason;
  attempts: number;
  error: SerializedError;
  firstFailureAt: number;
  lastFailureAt: number;
  deadAt: number;
  event: { type: string | null; key: string | null; data: unknown; time: number | null; headers?: Record<string, string> } | null;
  /** Raw fields of a malformed entry (field, value, field, value …). */
  rawFields?: string[];
}

/** What is known of an event's failed attempts for one function (stored in the partition's attempts hash). */
export interface FailureRecord {
  attempts: number;
  firstFailureAt: number;
  lastFailureAt: number;
  /** Deliveries that were not attempts (read, then handed over unstarted by a graceful stop). */
  free?: number;
}

/** XADD fields of a dead letter. */
export function deadLetterFields(
  entry: DecodedEntry,
  partition: number,
  fn: { name: string; version: string },
  reason: DeadLetterReason,
  error: SerializedError,
  failure: FailureRecord,
  now: number,
): string[] {
  const fields = [
    'eventId', entry.id, 'partition', String(partition), 'function', fn.name, 'version', fn.version,
    'reason', reason, 'attempts', String(failure.attempts), 'error', JSON.stringify(error),
    'firstFailureAt', String(failure.firstFailureAt), 'lastFailureAt', String(failure.lastFailureAt), 'deadAt', String(now),
  ];
  if (isMalformed(entry)) {
    fields.push('rawFields', JSON.stringify(entry.fields));
  } else {
    fields.push('type', entry.type, 'data', entry.dataText, 'time', String(entry.time));
    if (entry.key !== null) fields.push('key', entry.key);
    if (entry.headersText !== null) fields.push('headers', entry.headersText);
  }
  return fields;
}

/** Parses a DLQ stream entry back; `partition` and the DLQ id come from where it was read. */
export function parseDeadLetter(partition: number, dlqId: string, fields: string[]): DeadLetter {
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
  const num = (name: string) => Number(f.get(name) ?? NaN);
  const rawFields = f.get('rawFields');
  const type = f.get('type');
  let data: unknown = null;
  try { data = JSON.parse(f.get('data') ?? 'null'); } catch { data = f.get('data'); }
  const headers = f.get('headers');
  return {
    id: `${partition}:${dlqId}`,
    partition,
    eventId: f.get('eventId') ?? '',
    function: f.get('function') ?? '',
    version: f.get('version') ?? '',
    reason: (f.get('reason') ?? 'failed') as DeadLetterReason,
    attempts: num('attempts'),
    error: JSON.parse(f.get('error') ?? '{}') as SerializedError,
    firstFailureAt: num('firstFailureAt'),
    lastFailureAt: num('lastFailureAt'),
    deadAt: num('deadAt'),
    event: type === undefined && rawFields !== undefined
      ? null
      : { type: type ?? null, key: f.get('key') ?? null, data, time: f.has('time') ? num('time') : null, ...(headers ? { headers: JSON.parse(headers) as Record<string, string> } : {}) },
    ...(rawFields !== undefined ? { rawFields: JSON.parse(rawFields) as string[] } : {}),
  };
}
