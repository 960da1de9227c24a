/**
 * Per-event results as JSON text, shared by both sides: the child joins the shim's per-event JSON
 * and the parent parses the whole array once, so the hot path builds no objects in between.
 */
import type { SerializedError } from '../types.ts';

/** The JSON text of a skipped event's result. */
export const SKIPPED_JSON = '{"status":"skipped"}';

/** Error names fnrun gives the failures it detects itself (the caller may match on them). */
export const FAILURE_NAMES: Record<SerializedError['kind'], string> = {
  handler: 'Error',
  timeout: 'TimeoutError',
  memory: 'MemoryLimitError',
  crash: 'SandboxCrashError',
};

/** A failed event the handler did not report itself: there is no stack, and its logs are lost. */
export function failureJson(kind: SerializedError['kind'], message: string, durationMs = 0): string {
  const name = FAILURE_NAMES[kind];
  const error: SerializedError = { name, message, stack: `${name}: ${message}`, kind };
  return `{"status":"error","error":${JSON.stringify(error)},"logs":[],"durationMs":${durationMs}}`;
}

/**
 * `done` (comma-joined chunks of `doneCount` results; by default one result per chunk), then
 * `failure` (if any) at the next index, then `skipped` up to `count`.
 */
export function assembleResults(done: readonly string[], count: number, failure: string | null, doneCount = done.length): string {
  let out = `[${done.join(',')}`;
  let n = doneCount;
  if (failure !== null && n < count) {
    out += n === 0 ? failure : `,${failure}`;
    n++;
  }
  for (; n < count; n++) out += n === 0 ? SKIPPED_JSON : `,${SKIPPED_JSON}`;
  return `${out}]`;
}
