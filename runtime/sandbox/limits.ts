/**
 * What one invocation may produce, in one place (README "Caps"). The isolate enforces them as the
 * handler runs, so that one invocation — or one batch of them — cannot flood the sandbox process,
 * the IPC channel or the runtime's memory.
 */
import { STATE_LIMITS } from '../state/state-limits.ts';
import type { ShimLimits } from './isolate/shim-api.ts';

/** Per-invocation caps enforced inside the isolate. */
export const SHIM_LIMITS: ShimLimits = Object.freeze({
  /** Log lines per invocation; past it one line says the rest was dropped. @defaultValue 1000 */
  maxLogLines: 1_000,
  /** Characters of one log line (longer lines are cut). @defaultValue 16 KiB */
  maxLogLineChars: 16 * 1024,
  /** Characters of all log lines of one invocation. @defaultValue 256 KiB */
  maxLogChars: 256 * 1024,
  /** Events one invocation may emit; one more fails it. @defaultValue 1000 */
  maxEmits: 1_000,
  /** Characters of all emits of one invocation (each emit is also held to `maxEventBytes`). @defaultValue 4 MiB */
  maxEmitChars: 4 * 1024 * 1024,
  /** Characters of a thrown error's message kept (the rest is cut). @defaultValue 8 KiB */
  maxErrorMessageChars: 8 * 1024,
  /** Characters of a thrown error's stack kept. @defaultValue 16 KiB */
  maxStackChars: 16 * 1024,
  /** Characters of one invocation's whole outcome (emits, logs, state writes, error). @defaultValue 8 MiB */
  maxResultChars: 8 * 1024 * 1024,
  ...STATE_LIMITS,
});
