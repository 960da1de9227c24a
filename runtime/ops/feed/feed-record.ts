/**
 * What the invocation feed carries: an {@link InvocationRecord} with when and where it happened,
 * cut to a size that keeps one pub/sub message small whatever a handler logged.
 */
import type { InvocationRecord } from '../../loading/function-handle.ts';

/** One invocation as `fnrun tail` and the UI see it. */
export interface FeedRecord extends InvocationRecord {
  /** When the outcome was known, ms since the epoch (the publishing process's clock). */
  time: number;
  /** Which process ran it: the member id of `fnrun start`, `dev:<host>:<pid>` for `fnrun dev`. */
  source: string;
  /** Log lines left out of `logs` by the feed's caps. */
  logsDropped?: number;
}

/** One pub/sub message: the records a process collected since its last flush. */
export interface FeedMessage {
  source: string;
  records: FeedRecord[];
  /** Records this process left out since its previous message (its buffer was full). */
  dropped: number;
}

/** Caps per record (the runtime's own caps allow 1,000 log lines of 256 KiB per event). */
export const FEED_LIMITS = Object.freeze({ logs: 50, logChars: 2_000, stackChars: 8_000, messageChars: 2_000, fetches: 50 });

const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…` : text);

/** The record as the feed sends it: its logs, error and fetches capped by {@link FEED_LIMITS}. */
export function toFeedRecord(r: InvocationRecord, time: number, source: string): FeedRecord {
  const out: FeedRecord = {
    function: r.function, version: r.version, partition: r.partition, eventId: r.eventId, type: r.type, key: r.key,
    attempt: r.attempt, status: r.status, durationMs: r.durationMs, time, source,
  };
  if (r.retryInMs !== undefined) out.retryInMs = r.retryInMs;
  if (r.error) {
    out.error = { name: r.error.name, message: cut(r.error.message, FEED_LIMITS.messageChars), stack: cut(r.error.stack, FEED_LIMITS.stackChars), kind: r.error.kind };
  }
  if (r.logs && r.logs.length > 0) {
    out.logs = r.logs.slice(0, FEED_LIMITS.logs).map((l) => ({ level: l.level, msg: cut(l.msg, FEED_LIMITS.logChars), time: l.time }));
    if (r.logs.length > FEED_LIMITS.logs) out.logsDropped = r.logs.length - FEED_LIMITS.logs;
  }
  // `fetches` is reported by runtimes that have outbound fetch; passed on as it comes, capped.
  const fetches = (r as { fetches?: readonly unknown[] }).fetches;
  if (Array.isArray(fetches) && fetches.length > 0) out.fetches = fetches.slice(0, FEED_LIMITS.fetches);
  return out;
}

/** Parses a feed message; null for anything that is not one (another tool on the channel). */
export function parseFeedMessage(text: string): FeedMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const m = value as Partial<FeedMessage> | null;
  if (m === null || typeof m !== 'object' || typeof m.source !== 'string' || !Array.isArray(m.records)) return null;
  return { source: m.source, records: m.records.filter(isRecord), dropped: Number(m.dropped ?? 0) || 0 };
}

function isRecord(r: unknown): r is FeedRecord {
  const x = r as Partial<FeedRecord> | null;
  return x !== null && typeof x === 'object' && typeof x.function === 'string' && typeof x.status === 'string' && typeof x.eventId === 'string';
}

/** Statuses `--status` and the UI filter accept; `failed` is every outcome but `ok`. */
export const FEED_STATUSES = ['ok', 'retry', 'dead-lettered', 'dropped', 'failed'] as const;
export type FeedStatusFilter = (typeof FEED_STATUSES)[number];

/** A filter over records: by function, event key and outcome (each optional). */
export function feedFilter(opts: { fn?: string | null; key?: string | null; status?: FeedStatusFilter | null }): (r: FeedRecord) => boolean {
  const { fn = null, key = null, status = null } = opts;
  return (r) => (fn === null || r.function === fn)
    && (key === null || r.key === key)
    && (status === null || (status === 'failed' ? r.status !== 'ok' : r.status === status));
}
