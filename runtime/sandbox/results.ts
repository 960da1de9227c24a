/**
 * Per-event results as JSON text, shared by both sides of the sandbox: the child finishes the
 * shim's JSON (duration, fetches) and the parent parses each result once.
 */
import type { InvocationResult, SerializedError } from '../types.ts';

/** An event that did not run (or whose run was cut short through no fault of its own): run it again, uncharged. */
export const SKIPPED_JSON = '{"status":"skipped"}';
/**
 * Did not run to the end because its isolate or the sandbox process died and no culprit could be
 * named: run it again alone, so that a second death names it.
 */
export const SUSPECT_JSON = '{"status":"skipped","suspect":true}';

/** Error names fnrun gives the failures it detects itself (the caller may match on them). */
export const FAILURE_NAMES: Record<SerializedError['kind'], string> = {
  handler: 'Error',
  'non-retriable': 'NonRetriableError',
  timeout: 'TimeoutError',
  memory: 'MemoryLimitError',
  crash: 'SandboxCrashError',
};

/** Durations travel with microsecond resolution. */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** A failed event the handler did not report itself: there is no stack, and its logs are lost. */
export function failureJson(kind: SerializedError['kind'], message: string, durationMs = 0): string {
  const name = FAILURE_NAMES[kind];
  const error: SerializedError = { name, message, stack: `${name}: ${message}`, kind };
  return `{"status":"error","error":${JSON.stringify(error)},"logs":[],"durationMs":${roundMs(durationMs)}}`;
}

/** The shim's text for an ok invocation that emitted, logged, wrote and fetched nothing. */
export const PLAIN_OK_JSON = '{"status":"ok","emits":[],"logs":[]}';

/** Shared by every plain ok (frozen: nobody may add to them). */
const NONE = Object.freeze([]) as unknown as never[];

/** The result a {@link ResultPart} stands for: a plain ok's duration, or the JSON text of any result. */
export function parseResult(outcome: string | number): InvocationResult {
  return typeof outcome === 'number' ? { status: 'ok', emits: NONE, logs: NONE, durationMs: outcome } : JSON.parse(outcome) as InvocationResult;
}

/** `{"status":…}` from the shim, with what only the child knows added in front. */
export function finishResultJson(shimJson: string, durationMs: number, fetchesJson: string | null): string {
  return `{"durationMs":${durationMs},${fetchesJson === null ? '' : `"fetches":${fetchesJson},`}${shimJson.slice(1)}`;
}
