/** Helpers for Redis stream ids (`<ms>-<seq>`), compared without BigInt on the hot path. */

/**
 * Negative, zero or positive as `a` sorts before, equal to or after `b`. A missing sequence part
 * counts as 0. Compares characters in place (no substring per call: the wake path compares ids
 * several times per event); the millisecond parts are whole numbers without leading zeros, as
 * Redis writes them.
 */
export function compareStreamIds(a: string, b: string): number {
  if (a === b) return 0;
  let da = a.indexOf('-');
  let db = b.indexOf('-');
  if (da < 0) da = a.length;
  if (db < 0) db = b.length;
  if (da !== db) return da - db;
  for (let i = 0; i < da; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d;
  }
  const seqA = da < a.length ? Number(a.slice(da + 1)) : 0;
  const seqB = db < b.length ? Number(b.slice(db + 1)) : 0;
  return seqA - seqB;
}

/** Milliseconds part of a stream id: when Redis appended the entry. */
export function streamIdTime(id: string): number {
  const dash = id.indexOf('-');
  return Number(dash < 0 ? id : id.slice(0, dash));
}
