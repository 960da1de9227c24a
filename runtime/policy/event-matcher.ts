/**
 * Event-type patterns: which events a function subscribes to.
 *
 * An event type is a dotted name: one or more non-empty segments of `[A-Za-z0-9_-]`, e.g.
 * `post.created`. A pattern is a dotted name whose segments may also be globs (NATS-like, with
 * `**` where NATS has `>`). Matching is case-sensitive and always covers the whole type:
 *
 * | pattern segment | matches |
 * |---|---|
 * | `created` | exactly that segment |
 * | `*` | exactly one segment, any name (`post.*` matches `post.created`, not `post` nor `post.a.b`) |
 * | `*` inside a segment | any run of characters within that one segment, possibly empty (`post.*ed` matches `post.created` and `post.ed`; `user-*.signup` matches `user-eu.signup`) |
 * | `**` (a whole segment only) | one or more whole segments, anywhere in the pattern (`post.**` matches `post.a` and `post.a.b`, not `post`; `**.failed` matches `payment.failed` and `a.b.failed`, not `failed`) |
 *
 * A lone `**` therefore matches every event. Matching takes time linear in the pattern length
 * times the type length at worst, with no backtracking (see {@link compileEventMatcher}): it runs
 * on the runtime's main thread for every event, so a hostile pattern or type must not stall it.
 */
import { ConfigError } from '../errors.ts';

const TYPE_RE = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;
const PATTERN_SEGMENT_RE = /^[A-Za-z0-9_*-]+$/;

/** The longest event-type pattern accepted; types are short names, not data. */
export const MAX_EVENT_PATTERN_LENGTH = 255;

/** The most patterns one function may list. */
export const MAX_EVENT_PATTERNS = 256;
/**
 * The most characters the glob patterns (those with `*`) of one function may have together. Exact
 * names cost one Set lookup; a glob costs up to ~2 × its length × the type's length in steps, so
 * this keeps matching one event under ~550,000 steps (well under a millisecond) for a function.
 */
export const MAX_GLOB_PATTERN_CHARS = 1024;

/** Why a function's list of patterns is too big, or `undefined` (each pattern is checked on its own by {@link eventPatternProblem}). */
export function eventPatternsProblem(patterns: readonly string[]): string | undefined {
  if (patterns.length > MAX_EVENT_PATTERNS) return `${patterns.length} patterns, over the limit of ${MAX_EVENT_PATTERNS}; use globs such as "post.*"`;
  let chars = 0;
  for (const p of patterns) if (p.includes('*')) chars += p.length;
  if (chars > MAX_GLOB_PATTERN_CHARS) return `the patterns with "*" have ${chars} characters in all, over the limit of ${MAX_GLOB_PATTERN_CHARS}; list exact names or use fewer, shorter globs`;
  return undefined;
}

/** True when `type` is a valid event type (dotted segments of letters, digits, `_` and `-`). */
export function isEventType(type: string): boolean {
  return type.length <= MAX_EVENT_PATTERN_LENGTH && TYPE_RE.test(type);
}

/**
 * Why `pattern` is not a valid event-type pattern, in words a user can act on, or `undefined`
 * when it is valid. Used by the manifest validation so its messages match the matcher.
 */
export function eventPatternProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'it is empty';
  if (pattern.length > MAX_EVENT_PATTERN_LENGTH) return `it is longer than ${MAX_EVENT_PATTERN_LENGTH} characters`;
  for (const segment of pattern.split('.')) {
    if (segment === '') return 'it has an empty segment (a leading, trailing or doubled ".")';
    if (segment === '**') continue;
    if (segment.includes('**')) return `"**" must be a whole segment, as in "post.**" (got "${segment}")`;
    if (!PATTERN_SEGMENT_RE.test(segment)) {
      const bad = [...segment].find((c) => !/[A-Za-z0-9_*-]/.test(c));
      return `it contains ${JSON.stringify(bad)}; segments use letters, digits, "_", "-" and the globs "*" and "**"`;
    }
  }
  return undefined;
}

/**
 * A compiled pattern segment. Matching never backtracks: a segment list is matched by a DP over
 * (pattern segment, type segment) pairs, and a glob segment by leftmost search of its pieces.
 */
interface Segment {
  /**
   * `literal`: exactly `text`; `one` (`*`): any one segment; `glob` (`a*b*c`): starts with `head`,
   * ends with `tail`, holds `middle` in order between; `many`: a run of `min` consecutive `**`,
   * so `min` or more segments. One shape for all kinds keeps the matching loop monomorphic.
   */
  kind: 'literal' | 'one' | 'glob' | 'many';
  text: string;
  head: string;
  middle: string[];
  tail: string;
  min: number;
}

/** A compiled glob pattern; `dp` when it has a `**` (the others match segment by segment). */
interface Glob {
  segments: Segment[];
  dp: boolean;
}

function compileGlob(pattern: string): Glob {
  const out: Segment[] = [];
  for (const text of pattern.split('.')) {
    const last = out[out.length - 1];
    if (text === '**') {
      // A run of k `**` is "k or more segments": one DP row instead of k.
      if (last?.kind === 'many') last.min++;
      else out.push({ kind: 'many', text: '', head: '', middle: [], tail: '', min: 1 });
    } else if (text === '*') out.push({ kind: 'one', text: '', head: '', middle: [], tail: '', min: 0 });
    else if (!text.includes('*')) out.push({ kind: 'literal', text, head: '', middle: [], tail: '', min: 0 });
    else {
      const pieces = text.split('*');
      out.push({ kind: 'glob', text: '', head: pieces[0]!, middle: pieces.slice(1, -1).filter((p) => p !== ''), tail: pieces[pieces.length - 1]!, min: 0 });
    }
  }
  return { segments: out, dp: out.some((s) => s.kind === 'many') };
}

/** Work counter for tests: `steps` grows by one per DP cell and per character compared. */
export interface MatchMeter {
  steps: number;
}

// Scratch space for one match at a time (matching is synchronous): segment bounds of the type,
// and two DP rows. A valid type has at most 128 segments (255 characters).
const MAX_SEGMENTS = (MAX_EVENT_PATTERN_LENGTH + 1) / 2;
const starts = new Int32Array(MAX_SEGMENTS + 1);
const rowA = new Uint8Array(MAX_SEGMENTS + 1);
const rowB = new Uint8Array(MAX_SEGMENTS + 1);
let steps = 0;
/** Answers a compiled matcher remembers, per matcher. */
const MAX_REMEMBERED_TYPES = 1024;

/** True when `type[at, at + text.length)` is `text` (counting the characters compared). */
function occursAt(type: string, at: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    steps++;
    if (type.charCodeAt(at + i) !== text.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Whether the type's segment `type[from, to)` matches `seg` (not `many`). A glob's pieces are
 * found leftmost, in order: with only `*` between them, the leftmost place of each piece leaves
 * the most room for the rest, so no other placement needs trying. Work: at most
 * (to − from) × (characters of the pattern segment).
 */
function segmentMatches(seg: Segment, type: string, from: number, to: number): boolean {
  steps++;
  if (seg.kind === 'one') return true;
  if (seg.kind === 'literal') return to - from === seg.text.length && occursAt(type, from, seg.text);
  if (seg.kind !== 'glob') return false;
  const { head, middle, tail } = seg;
  if (to - from < head.length + tail.length) return false;
  if (!occursAt(type, from, head) || !occursAt(type, to - tail.length, tail)) return false;
  let at = from + head.length;
  const end = to - tail.length;
  for (const piece of middle) {
    while (at + piece.length <= end && !occursAt(type, at, piece)) at++;
    if (at + piece.length > end) return false;
    at += piece.length;
  }
  return true;
}

/**
 * Whether `type` matches the compiled pattern. `row[j]` says the pattern segments so far match the
 * first j type segments; each pattern segment computes the next row in one pass over the type's
 * segments (a `many` row: everything from the first reachable cell + min on), so the work is at
 * most (pattern segments + 1) × (type segments + 1) cells plus the characters compared in them.
 */
function matchesGlob({ segments, dp }: Glob, type: string): boolean {
  steps += type.length + 1;
  let n = 0;
  starts[0] = 0;
  for (let i = 0; i <= type.length; i++) {
    if (i < type.length && type.charCodeAt(i) !== 46 /* . */) continue;
    // An empty segment is never matched: every pattern segment needs at least one character.
    if (i === starts[n]) return false;
    starts[++n] = i + 1;
  }
  if (!dp) {
    // No `**`: one pattern segment per type segment, no DP needed.
    if (n !== segments.length) return false;
    for (let j = 0; j < n; j++) if (!segmentMatches(segments[j]!, type, starts[j]!, starts[j + 1]! - 1)) return false;
    return true;
  }
  let row = rowA;
  let next = rowB;
  row.fill(0, 0, n + 1);
  row[0] = 1;
  // Cells before `lo` (the first reachable one) are all 0: rows are computed from there on.
  let lo = 0;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    steps += n + 1 - lo;
    if (seg.kind === 'many') {
      // "min or more segments": every cell from lo + min on is reachable, none before.
      const from = lo + seg.min;
      if (from > n) return false;
      next.fill(0, 0, from);
      next.fill(1, from, n + 1);
      lo = from;
    } else {
      next.fill(0, 0, lo + 1);
      let first = -1;
      for (let j = lo; j < n; j++) {
        const hit = row[j] === 1 && segmentMatches(seg, type, starts[j]!, starts[j + 1]! - 1) ? 1 : 0;
        next[j + 1] = hit;
        if (hit === 1 && first < 0) first = j + 1;
      }
      if (first < 0) return false;
      lo = first;
    }
    const swap = row;
    row = next;
    next = swap;
  }
  return row[n] === 1;
}

/**
 * Compiles event-type patterns (see the module doc for the glob rules) into a predicate that is
 * true when a type matches any of them. Exact names are looked up in a Set; a lone `**`
 * short-circuits to "always"; a glob pattern is matched in bounded work, never by backtracking:
 * at most 2 × (pattern length + 1) × (type length + 1) steps (~130,000 for 255 characters each),
 * and once per distinct type while the matcher remembers it ({@link MAX_GLOB_PATTERN_CHARS}
 * bounds the sum over a function's patterns). A type longer than 255 characters (never valid: it
 * comes only from a malformed entry) matches every pattern, without any work.
 *
 * @param meter for tests: receives the steps each call takes
 * @throws ConfigError when a pattern is invalid (manifests are validated before this is called)
 * @example compileEventMatcher(['post.created', 'comment.*'])('comment.deleted') === true
 */
export function compileEventMatcher(patterns: readonly string[], meter?: MatchMeter): (type: string) => boolean {
  const tooMany = eventPatternsProblem(patterns);
  if (tooMany !== undefined) throw new ConfigError(`invalid event patterns: ${tooMany}`);
  const exact = new Set<string>();
  const globs: Glob[] = [];
  for (const pattern of patterns) {
    const problem = eventPatternProblem(pattern);
    if (problem !== undefined) throw new ConfigError(`invalid event pattern ${JSON.stringify(pattern)}: ${problem}`);
    if (pattern === '**') return () => true;
    if (pattern.includes('*')) globs.push(compileGlob(pattern));
    else exact.add(pattern);
  }
  // A type over the length limit is never a valid event type; it reaches a matcher only on a
  // malformed entry, which then goes to every function's dead letters (as one without a type
  // does): telling which function it was meant for could take work in proportion to its length.
  const overlong = (type: string): boolean => type.length > MAX_EVENT_PATTERN_LENGTH;
  if (globs.length === 0) return (type) => exact.has(type) || overlong(type);
  // A stream carries few distinct types: remembering the answers keeps the hot path a lookup.
  // Bounded, so a producer inventing types costs only the bounded matching of each.
  const seen = new Map<string, boolean>();
  return (type) => {
    if (exact.has(type) || overlong(type)) return true;
    const known = seen.get(type);
    if (known !== undefined) return known;
    steps = 0;
    let found = false;
    for (let i = 0; i < globs.length && !found; i++) found = matchesGlob(globs[i]!, type);
    if (meter !== undefined) meter.steps += steps;
    if (seen.size >= MAX_REMEMBERED_TYPES) seen.clear();
    seen.set(type, found);
    return found;
  };
}
