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
 * A lone `**` therefore matches every event.
 */
import { ConfigError } from '../errors.ts';

const TYPE_RE = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;
const PATTERN_SEGMENT_RE = /^[A-Za-z0-9_*-]+$/;

/** The longest event-type pattern accepted; types are short names, not data. */
export const MAX_EVENT_PATTERN_LENGTH = 255;

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

function segmentSource(segment: string): string {
  if (segment === '*') return '[^.]+';
  // Only letters, digits, "_", "-" and "*" get here; "-" is literal outside a character class.
  return segment.replaceAll('*', '[^.]*');
}

function patternSource(pattern: string): string {
  const segments = pattern.split('.');
  const parts: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    if (segments[i] !== '**') {
      parts.push(segmentSource(segments[i]!));
      continue;
    }
    // A run of k `**` is "k or more segments": one quantifier instead of k nested ones keeps the
    // regex free of the ambiguous splits that make backtracking slow.
    let k = 1;
    while (segments[i + 1] === '**') {
      k++;
      i++;
    }
    parts.push(`[^.]+(?:\\.[^.]+){${k - 1},}`);
  }
  return parts.join('\\.');
}

/**
 * Compiles event-type patterns (see the module doc for the glob rules) into a predicate that is
 * true when a type matches any of them. Exact names are looked up in a Set; the globs share one
 * precompiled RegExp; a lone `**` short-circuits to "always".
 *
 * @throws ConfigError when a pattern is invalid (manifests are validated before this is called)
 * @example compileEventMatcher(['post.created', 'comment.*'])('comment.deleted') === true
 */
export function compileEventMatcher(patterns: readonly string[]): (type: string) => boolean {
  const exact = new Set<string>();
  const globs: string[] = [];
  for (const pattern of patterns) {
    const problem = eventPatternProblem(pattern);
    if (problem !== undefined) throw new ConfigError(`invalid event pattern ${JSON.stringify(pattern)}: ${problem}`);
    if (pattern === '**') return () => true;
    if (pattern.includes('*')) globs.push(patternSource(pattern));
    else exact.add(pattern);
  }
  if (globs.length === 0) return (type) => exact.has(type);
  const re = new RegExp(`^(?:${globs.join('|')})$`);
  if (exact.size === 0) return (type) => re.test(type);
  return (type) => exact.has(type) || re.test(type);
}
