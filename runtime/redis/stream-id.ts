/** Helpers for Redis stream ids (`<ms>-<seq>`), compared without BigInt on the hot path. */

/** Negative, zero or positive as `a` sorts before, equal to or after `b`. */
export function compareStreamIds(a: string, b: string): number {
  const da = a.indexOf('-');
  const db = b.indexOf('-');
  const msA = da < 0 ? a : a.slice(0, da);
  const msB = db < 0 ? b : b.slice(0, db);
  if (msA.length !== msB.length) return msA.length - msB.length;
  if (msA !== msB) return msA < msB ? -1 : 1;
  const seqA = da < 0 ? 0 : Number(a.slice(da + 1));
  const seqB = db < 0 ? 0 : Number(b.slice(db + 1));
  return seqA - seqB;
}

/** Milliseconds part of a stream id: when Redis appended the entry. */
export function streamIdTime(id: string): number {
  const dash = id.indexOf('-');
  return Number(dash < 0 ? id : id.slice(0, dash));
}
