/**
 * The Functions page's rows: each running function's manifest, joined with what the UI saw of its
 * invocations and with the namespace's status (lag, retries, dead letters).
 */
import path from 'node:path';
import type { FunctionHandle } from '../../loading/function-handle.ts';
import type { GroupSpec, RetryPolicy } from '../../types.ts';
import type { Status } from '../status-report.ts';
import type { InvocationLog, InvocationStats } from './invocation-log.ts';

export interface FunctionRow {
  name: string;
  version: string;
  /** The source file, relative to the working folder when inside it. */
  file: string;
  events: string[];
  group: GroupSpec | null;
  /** From the manifest when the runtime has it (`key` / `partition`); null otherwise. */
  ordering: string | null;
  concurrency: number | null;
  retry: RetryPolicy;
  timeoutMs: number;
  memoryMb: number;
  deadLetter: boolean;
  /** `failing` when the last outcome seen was not `ok` or an event waits for a retry. */
  health: 'ok' | 'failing';
  invocations: InvocationStats | null;
  lag: number | null;
  pending: number | null;
  retrying: number | null;
  deadLetters: number | null;
  eventsPerSecond: number | null;
}

export function functionRows(handles: readonly FunctionHandle[], status: Status | null, log: InvocationLog, now: number): FunctionRow[] {
  const byName = new Map((status?.functions ?? []).map((f) => [f.name, f]));
  return [...handles].sort((a, b) => a.name.localeCompare(b.name)).map((h) => {
    const s = byName.get(h.name);
    const invocations = log.stats(h.name, now);
    const m = h.manifest as typeof h.manifest & { ordering?: unknown; concurrency?: unknown };
    const failing = (s?.retriesInFlight ?? 0) > 0 || (invocations?.lastStatus !== undefined && invocations.lastStatus !== null && invocations.lastStatus !== 'ok');
    return {
      name: h.name,
      version: h.version,
      file: displayPath(h.file),
      events: m.events,
      group: m.group,
      ordering: typeof m.ordering === 'string' ? m.ordering : null,
      concurrency: typeof m.concurrency === 'number' ? m.concurrency : null,
      retry: m.retry,
      timeoutMs: m.timeoutMs,
      memoryMb: m.memoryMb,
      deadLetter: m.deadLetter,
      health: failing ? 'failing' : 'ok',
      invocations,
      lag: s?.lag ?? null,
      pending: s?.pending ?? null,
      retrying: s?.retriesInFlight ?? null,
      deadLetters: s?.deadLetters ?? null,
      eventsPerSecond: s?.eventsPerSecond ?? null,
    };
  });
}

function displayPath(file: string): string {
  if (!path.isAbsolute(file)) return file;
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith('..') ? file : relative;
}
