/**
 * What Redis says about a partition stream and its consumer groups (XINFO STREAM / XINFO GROUPS,
 * Redis 7.0+), parsed from the RESP2 flat replies, and a group's lag from them.
 */
import { compareStreamIds } from './stream-id.ts';

/** The parts of XINFO STREAM that status uses. */
export interface StreamInfo {
  length: number;
  /** Every entry ever appended (deleted and trimmed ones included). */
  entriesAdded: number;
  lastGeneratedId: string;
  /** Null when the stream is empty. */
  firstId: string | null;
  lastId: string | null;
}

/** The parts of one XINFO GROUPS row that status uses. */
export interface GroupInfo {
  name: string;
  /** Entries delivered to the group and not yet acknowledged. */
  pending: number;
  lastDeliveredId: string;
  /** Logical read counter; null when Redis cannot know it (the group was SETID to an arbitrary id). */
  entriesRead: number | null;
  /** Entries not yet delivered to the group; null when Redis cannot tell (see {@link groupLag}). */
  lag: number | null;
}

/** An empty stream: what a partition nobody published to looks like. */
export const EMPTY_STREAM: StreamInfo = { length: 0, entriesAdded: 0, lastGeneratedId: '0-0', firstId: null, lastId: null };

/** Parses XINFO STREAM (without FULL). */
export function parseStreamInfo(reply: unknown[]): StreamInfo {
  const f = pairs(reply);
  const entryId = (entry: unknown) => (Array.isArray(entry) ? String(entry[0]) : null);
  return {
    length: Number(f.get('length') ?? 0),
    entriesAdded: Number(f.get('entries-added') ?? 0),
    lastGeneratedId: String(f.get('last-generated-id') ?? '0-0'),
    firstId: entryId(f.get('first-entry')),
    lastId: entryId(f.get('last-entry')),
  };
}

/** Parses XINFO GROUPS. */
export function parseGroupsInfo(reply: unknown[]): GroupInfo[] {
  return reply.map((row) => {
    const f = pairs(row as unknown[]);
    const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
    return {
      name: String(f.get('name')),
      pending: Number(f.get('pending') ?? 0),
      lastDeliveredId: String(f.get('last-delivered-id') ?? '0-0'),
      entriesRead: num(f.get('entries-read')),
      lag: num(f.get('lag')),
    };
  });
}

/**
 * Entries of `stream` not yet delivered to `group` (pending entries are not lag: they were read).
 *
 * Redis gives the exact lag unless entries were deleted after the group's cursor, or the group was
 * created or moved at an arbitrary id (https://redis.io/docs/latest/commands/xinfo-groups/). Then:
 * a cursor at or past the stream's tip has lag 0 and one before the first retained entry has every
 * entry ahead of it — both exact; otherwise the lag is estimated as an upper bound, the smaller of
 * `entries-added − entries-read` (which still counts the deleted entries) and the stream's length.
 */
export function groupLag(group: GroupInfo, stream: StreamInfo): { lag: number; estimated: boolean } {
  if (group.lag !== null) return { lag: group.lag, estimated: false };
  if (stream.firstId === null || compareStreamIds(group.lastDeliveredId, stream.lastGeneratedId) >= 0) return { lag: 0, estimated: false };
  if (compareStreamIds(group.lastDeliveredId, stream.firstId) < 0) return { lag: stream.length, estimated: false };
  const byCounter = group.entriesRead === null ? Infinity : Math.max(0, stream.entriesAdded - group.entriesRead);
  return { lag: Math.min(byCounter, stream.length), estimated: true };
}

/** A RESP2 field/value list as a map. */
export function pairs(flat: readonly unknown[]): Map<string, unknown> {
  const map = new Map<string, unknown>();
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(String(flat[i]), flat[i + 1]);
  return map;
}
