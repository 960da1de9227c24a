/**
 * The rule for function and group names. A name is part of Redis keys and consumer-group names,
 * so it is kept to characters that never need quoting and never contain `{`/`}` (which would move
 * a key's Cluster hash tag).
 */

/** Lowercase letters, digits, `-` and `_`, starting with a letter or digit, at most 63 characters. */
export const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** {@link NAME_RE} in words, for error messages. */
export const NAME_RULE = 'lowercase letters, digits, "-" and "_", starting with a letter or digit, at most 63 characters';

/** True when `name` may name a function or a group. */
export function isValidName(name: string): boolean {
  return NAME_RE.test(name);
}
