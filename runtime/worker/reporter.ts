/**
 * Tells the world what happened to each invocation: the `onInvocation` hook (metrics, `fnrun dev`'s
 * lines, the live feed) and the logger (handler log lines, failures). Cheap when all went well and
 * nothing listens: no object is built for a silent success.
 */
import type { FunctionHandle, InvocationRecord } from '../loading/function-handle.ts';
import type { Logger } from '../logger.ts';
import type { FetchRecord, LogLine, SerializedError } from '../types.ts';

/** One outcome to report. */
export interface Outcome {
  status: InvocationRecord['status'];
  attempt: number;
  durationMs: number;
  error?: SerializedError;
  retryInMs?: number;
  logs?: readonly LogLine[];
  fetches?: readonly FetchRecord[];
  reason?: string;
}

export type Report = (fn: FunctionHandle, partition: number, event: { id: string; type: string | null; key: string | null }, outcome: Outcome) => void;

export function createReporter(logger: Logger, onInvocation: ((record: InvocationRecord) => void) | undefined): Report {
  return (fn, partition, event, o) => {
    const hasLogs = o.logs !== undefined && o.logs.length > 0;
    if (onInvocation === undefined && o.status === 'ok' && !hasLogs) return;
    const record: InvocationRecord = {
      function: fn.name, version: fn.version, partition, eventId: event.id, type: event.type, key: event.key,
      attempt: o.attempt, status: o.status, durationMs: o.durationMs,
    };
    if (o.error !== undefined) record.error = o.error;
    if (o.retryInMs !== undefined) record.retryInMs = o.retryInMs;
    if (hasLogs) record.logs = o.logs;
    if (o.fetches !== undefined && o.fetches.length > 0) record.fetches = o.fetches;
    if (o.reason !== undefined) record.reason = o.reason;
    onInvocation?.(record);
    // The logger stamps its own `time`; the handler's moment of logging goes as `loggedAt`.
    if (hasLogs) for (const line of o.logs!) logger[line.level]({ function: fn.name, version: fn.version, partition, eventId: event.id, attempt: o.attempt, loggedAt: line.time }, line.msg);
    if (o.status !== 'ok') logger.warn(record, `${fn.name}: ${o.status} ${event.id}`);
  };
}
