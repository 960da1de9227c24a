/**
 * Re-runs one function over retained history: the entries of a time or id window are appended
 * again, addressed to that function only (like dead-letter replays), so no other function sees
 * them twice and no consumer group's cursor moves. Each copy keeps its type, key, data and publish
 * time and carries the header `fnrun-replay-of: <original id>`.
 */
import type { Redis } from '../redis/redis.ts';
import { REPLAY_OF_HEADER } from './dead-letters.ts';
import { ConfigError } from '../errors.ts';
import { compileEventMatcher } from '../policy/event-matcher.ts';
import type { Keys } from '../redis/keys.ts';
import { compareStreamIds } from '../redis/stream-id.ts';
import { decodeEntry, encodeFields, isMalformed } from '../events/wire.ts';
import { parseDurationMs } from '../policy/duration.ts';

const PAGE = 1000;

export interface ReplayOptions {
  /** First entry id of the window (inclusive). */
  fromId: string;
  /** Last entry id (inclusive). @defaultValue the end of the stream when the replay starts */
  toId?: string;
  /** Only entries of these types (the function's `events`); all when absent. */
  events?: readonly string[];
  maxEventBytes: number;
}

/** Appends copies of the window's entries, addressed to `fn`; returns how many per partition in total. */
export async function replayWindow(redis: Redis, keys: Keys, partitions: number, fn: string, opts: ReplayOptions): Promise<number> {
  if (opts.toId !== undefined && compareStreamIds(opts.fromId, opts.toId) > 0) throw new ConfigError(`--from (${opts.fromId}) is after --to (${opts.toId})`);
  const matches = opts.events ? compileEventMatcher(opts.events) : () => true;
  let copied = 0;
  for (let p = 0; p < partitions; p++) {
    const stream = keys.partition(p).events;
    // Bound the window now, so the copies this appends are never read back into it.
    const last = opts.toId ?? ((await redis.xrevrange(stream, '+', '-', 'COUNT', 1)) as [string, string[]][])[0]?.[0];
    if (last === undefined) continue;
    let start = opts.fromId;
    for (;;) {
      const page = (await redis.xrange(stream, start, last, 'COUNT', PAGE)) as [string, string[]][];
      const pipeline = redis.pipeline();
      let queued = 0;
      for (const [id, fields] of page) {
        const e = decodeEntry(id, fields, opts.maxEventBytes);
        if (isMalformed(e) || !matches(e.type) || (e.target !== null && e.target !== fn)) continue;
        const headers = e.headersText ? (JSON.parse(e.headersText) as Record<string, string>) : {};
        pipeline.xadd(stream, '*', ...encodeFields(e.type, e.key, e.dataText, e.time, { ...headers, [REPLAY_OF_HEADER]: id }, fn));
        queued++;
      }
      if (queued > 0) await pipeline.exec();
      copied += queued;
      if (page.length < PAGE) break;
      start = `(${page[page.length - 1]![0]}`;
    }
  }
  return copied;
}

/**
 * A window bound as a stream id: a stream id (`1732300000000-0`), epoch milliseconds, an ISO date,
 * or a duration ago (`90m`, `2h`, `1d`) from `now`.
 */
export function parseWindowBound(text: string, now: number, end: 'from' | 'to'): string {
  if (/^\d+-\d+$/.test(text)) return text;
  let ms: number;
  const ago = parseDurationMs(text);
  if (ago !== null) ms = now - ago;
  else if (/^\d{10,}$/.test(text)) ms = Number(text);
  else ms = Date.parse(text);
  if (!Number.isFinite(ms)) throw new ConfigError(`--${end} must be a stream id, epoch ms, an ISO date or a duration ago like 90m; got ${JSON.stringify(text)}`);
  return end === 'from' ? `${ms}-0` : `${ms}-${Number.MAX_SAFE_INTEGER}`;
}
