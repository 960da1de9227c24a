/**
 * A loaded function version as the workers see it: resolved once on (re)load, never per event.
 */
import type { FetchRecord, Manifest } from '../types.ts';

export interface FunctionHandle {
  readonly name: string;
  /** Content-derived in `dev` and library use; the registry's version number once deployed. */
  readonly version: string;
  readonly manifest: Manifest;
  /** The file it was built from, for messages. */
  readonly file: string;
  /** Id of the loaded version in the sandbox. */
  readonly sandboxId: string;
  readonly matches: (type: string) => boolean;
}

/** What happened to one invocation; reported to `onInvocation` and the log. */
export interface InvocationRecord {
  function: string;
  version: string;
  partition: number;
  eventId: string;
  type: string | null;
  key: string | null;
  attempt: number;
  /**
   * `ok`; `retry` (failed, will run again after `retryInMs`); `dead-lettered` (failed its last
   * attempt, expired or malformed, now in the function's DLQ); `dropped` (same, with `deadLetter: false`).
   */
  status: 'ok' | 'retry' | 'dead-lettered' | 'dropped';
  durationMs: number;
  error?: { name: string; message: string; stack: string; kind: string };
  retryInMs?: number;
  logs?: readonly { level: string; msg: string; time: number }[];
  /** Outbound requests the invocation made (host, method, status, duration). */
  fetches?: readonly FetchRecord[];
  /** Why it was dead-lettered or dropped: `failed`, `non-retriable`, `expired`, `loop` or `malformed`. */
  reason?: string;
}
