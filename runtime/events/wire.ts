/**
 * The wire format: one stream entry per event, so producers in any language can XADD directly.
 *
 *   XADD <ns>:{p<i>}:events * type <type> [key <key>] data <json text> time <ms> [headers <json object>] [hops <n>]
 *
 * `target` is set only by a dead-letter replay: the entry is then for that one function. `hops` is
 * set by fnrun on events that handlers emit: one more than the event that emitted them (absent:
 * 0), so that emit loops end (a function's `maxHops`).
 */
import { Buffer } from 'node:buffer';
import { isEventType } from '../policy/event-matcher.ts';

/** Largest `data` accepted by default (1 MiB), on publish and on read. */
export const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024;

/** A stream entry that decoded into an event; `dataText` is the JSON text exactly as published. */
export interface WireEvent {
  id: string;
  type: string;
  key: string | null;
  dataText: string;
  time: number;
  headersText: string | null;
  target: string | null;
  /** Emit generations: 0 for an event a producer published, n + 1 for an event emitted while handling one of n. */
  hops: number;
}

/** A stream entry that is not a valid event, with the reason it goes to the dead letters. */
export interface MalformedEntry {
  id: string;
  reason: string;
  /** The raw fields, kept verbatim in the dead letter (truncated when huge). */
  fields: string[];
  type: string | null;
}

export type DecodedEntry = WireEvent | MalformedEntry;

export function isMalformed(entry: DecodedEntry): entry is MalformedEntry {
  return (entry as MalformedEntry).reason !== undefined;
}

/**
 * Why an event is too big, or `null`: its data, key and headers (what a handler receives) count
 * toward `limit` (`maxEventBytes`) together, as UTF-8. Cheap whatever the sizes: a part longer in
 * UTF-16 units than the limit is over it without counting (UTF-8 never takes fewer bytes), so a
 * huge key or header costs no pass over it; only parts under the limit are counted.
 */
export function eventSizeProblem(dataText: string, key: string | null, headersText: string | null, limit: number): string | null {
  // UTF-8 takes at most 3 bytes per UTF-16 unit: most events need no counting at all.
  if ((dataText.length + (key?.length ?? 0) + (headersText?.length ?? 0)) * 3 <= limit) return null;
  let total = 0;
  let atLeast = false;
  const parts: string[] = [];
  for (const [name, text] of [['data', dataText], ['key', key], ['headers', headersText]] as const) {
    if (text === null) continue;
    const over = text.length > limit;
    const bytes = over ? text.length : Buffer.byteLength(text, 'utf8');
    atLeast ||= over;
    total += bytes;
    parts.push(`${name} ${over ? 'at least ' : ''}${bytes}`);
  }
  if (total <= limit) return null;
  return `event is ${atLeast ? 'at least ' : ''}${total} bytes (${parts.join(', ')}), over the ${limit}-byte limit`;
}

/** Field list for XADD. */
export function encodeFields(
  type: string,
  key: string | null,
  dataText: string,
  time: number,
  headers?: Record<string, string> | null,
  target?: string | null,
  hops = 0,
): string[] {
  const fields = ['type', type];
  if (key !== null) fields.push('key', key);
  fields.push('data', dataText, 'time', String(time));
  if (headers && Object.keys(headers).length > 0) fields.push('headers', JSON.stringify(headers));
  if (target) fields.push('target', target);
  if (hops > 0) fields.push('hops', String(hops));
  return fields;
}

/** Decodes one entry of an XREADGROUP/XRANGE reply. `fields` is null for an entry trimmed while pending. */
export function decodeEntry(id: string, fields: string[] | null, maxEventBytes: number): DecodedEntry {
  if (fields === null) return { id, reason: 'the entry was deleted from the stream (trimmed) before it was processed', fields: [], type: null };
  let type: string | null = null;
  let key: string | null = null;
  let dataText: string | null = null;
  let time = NaN;
  let headersText: string | null = null;
  let target: string | null = null;
  let hops = 0;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1]!;
    switch (fields[i]) {
      case 'type': type = value; break;
      case 'key': key = value; break;
      case 'data': dataText = value; break;
      case 'time': time = Number(value); break;
      case 'headers': headersText = value; break;
      case 'target': target = value; break;
      case 'hops': hops = Number(value); break;
    }
  }
  const bad = (reason: string): MalformedEntry => ({ id, reason, fields: truncateFields(fields), type });
  if (type === null) return bad('missing field "type"');
  if (!isEventType(type)) return bad(`invalid event type ${JSON.stringify(type.slice(0, 100))}: expected dotted names of [A-Za-z0-9_-]`);
  if (dataText === null) return bad('missing field "data"');
  // Before any parsing: a producer's 180 MB key must cost no more than a length check.
  const tooBig = eventSizeProblem(dataText, key, headersText, maxEventBytes);
  if (tooBig !== null) return bad(tooBig);
  try {
    JSON.parse(dataText);
  } catch (error) {
    return bad(`data is not valid JSON: ${(error as Error).message}`);
  }
  if (headersText !== null && !isStringRecord(headersText)) return bad('headers is not a JSON object of strings');
  if (!Number.isInteger(hops) || hops < 0) return bad('hops is not a whole number');
  // A missing or bad time is tolerated: the entry id carries Redis' own append time.
  if (!Number.isFinite(time)) time = Number(id.slice(0, id.indexOf('-')));
  return { id, type, key, dataText, time, headersText, target, hops };
}

function isStringRecord(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
    return Object.values(value).every((v) => typeof v === 'string');
  } catch {
    return false;
  }
}

const MAX_KEPT_FIELD_CHARS = 64 * 1024;

function truncateFields(fields: string[]): string[] {
  return fields.map((f) => (f.length > MAX_KEPT_FIELD_CHARS ? `${f.slice(0, MAX_KEPT_FIELD_CHARS)}…[truncated ${f.length} chars]` : f));
}

/** The event JSON a handler receives, spliced from the raw texts without re-serialising `data`. */
export function eventJson(event: WireEvent, partition: number): string {
  let json = `{"id":"${event.id}","partition":${partition},"type":${JSON.stringify(event.type)},"key":${event.key === null ? 'null' : JSON.stringify(event.key)},"data":${event.dataText},"time":${event.time}`;
  if (event.headersText !== null) json += `,"headers":${event.headersText}`;
  return json + '}';
}
