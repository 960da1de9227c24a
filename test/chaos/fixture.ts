/**
 * The functions under test. Handlers log `seen <key> <seq>`, wait a little, and emit a
 * `chaos.done` event `{ fn, seq }` with the same key (so it is committed with the completion).
 */
import { MANIFEST_DEFAULTS } from '../../runtime/loading/manifest.ts';

export const FUNCTIONS = ['chaos-solo', 'chaos-grouped'] as const;
export const EVENT_TYPE = 'chaos.event';
export const DONE_TYPE = 'chaos.done';

/** Consumer group of each function on the partition streams. */
export const GROUP_OF: Record<(typeof FUNCTIONS)[number], string> = { 'chaos-solo': 'fn:chaos-solo', 'chaos-grouped': 'group:chaos-g' };

/**
 * The manifest fields for per-key concurrency, when this build's manifest has them (they are
 * added with the concurrency work; until then a manifest with them would be refused). Per-key
 * order is what the run checks, so `ordering` is the default `'key'`, stated for the reader.
 */
export function concurrencyFields(concurrency: number): string {
  const fields: string[] = [];
  if ('ordering' in MANIFEST_DEFAULTS) fields.push("ordering: 'key'");
  if ('concurrency' in MANIFEST_DEFAULTS) fields.push(`concurrency: ${concurrency}`);
  return fields.map((f) => `, ${f}`).join('');
}

/**
 * How long a handler waits by default. With per-key concurrency the waits of different keys
 * overlap, and 1 ms keeps invocations in flight for faults to hit; without it a process runs a
 * function's events one at a time, and 1 ms each would cap the run below 2,000 events/s.
 */
export const DEFAULT_HANDLER_MS = 'concurrency' in MANIFEST_DEFAULTS ? 1 : 0;

/**
 * `chaos-solo` has its own consumer group; `chaos-grouped` is a member of the group `chaos-g`, so
 * two consumer groups (one per code path: solo and group) run on every partition. Ten attempts:
 * the handlers never throw, but a crash counts as an attempt for every event of the batch in
 * flight (README "Retries"), and a long run may crash the same batch more than the default 3 times.
 */
export function functionSource(name: string, opts: { handlerMs: number; concurrency: number }): string {
  const group = name === 'chaos-grouped' ? ", group: 'chaos-g'" : '';
  const wait = opts.handlerMs > 0 ? `\n  await new Promise((resolve) => setTimeout(resolve, ${opts.handlerMs}));` : '';
  return `export const config = { events: ['${EVENT_TYPE}']${group}${concurrencyFields(opts.concurrency)}, retry: { attempts: 10, initialDelayMs: 100, maxDelayMs: 1000 } };
type Ctx = { log: { info(...a: unknown[]): void }; emit(type: string, key: string | null, data: unknown): Promise<void>; functionName: string };
export default async function handler(event: { key: string; data: { seq: number } }, ctx: Ctx) {
  ctx.log.info('seen', event.key, event.data.seq);${wait}
  await ctx.emit('${DONE_TYPE}', event.key, { fn: ctx.functionName, seq: event.data.seq });
}
`;
}
