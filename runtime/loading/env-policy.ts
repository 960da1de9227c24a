/**
 * Which host environment variables a function may read: the operator's choice, not the function
 * author's. A manifest's `env` lists the names a handler wants (`ctx.env.NAME`); a name the
 * operator did not allow fails the function's load, naming the variable, the function and the
 * flag to pass. fnrun's own variables (`FNRUN_*`: the Redis URL and its credentials, …) are never
 * visible, whatever the allow-list says.
 */
import { EnvNotAllowedError, ConfigError } from '../errors.ts';

/** What the operator allows: where values come from, and the names functions may read. */
export interface EnvPolicyOptions {
  /** Where values come from. @defaultValue `process.env` */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Names functions may read: exact names or globs where `*` stands for any run of characters
   * (`STRIPE_*`; `*` allows every name but fnrun's own). @defaultValue `[]`: none
   */
  allowEnv?: readonly string[];
}

/** Names fnrun keeps to itself. */
const OWN_PREFIX = 'FNRUN_';
const PATTERN_RE = /^[A-Z0-9_*]+$/;

/** Why `pattern` cannot be an allow-list entry, or `undefined`. */
export function envPatternProblem(pattern: string): string | undefined {
  if (PATTERN_RE.test(pattern)) return undefined;
  if (pattern === '') return 'it is empty';
  return `it contains ${JSON.stringify([...pattern].find((c) => !/[A-Z0-9_*]/.test(c)))}; environment variable names are upper-case letters, digits and "_", with "*" for any run of them (e.g. "STRIPE_*")`;
}

/** `*`-globs matched by leftmost search of their pieces: linear in the name, whatever the pattern. */
function globMatches(pieces: readonly string[], name: string): boolean {
  const head = pieces[0]!;
  const tail = pieces[pieces.length - 1]!;
  if (pieces.length === 1) return name === head;
  if (name.length < head.length + tail.length || !name.startsWith(head) || !name.endsWith(tail)) return false;
  let at = head.length;
  const end = name.length - tail.length;
  for (let i = 1; i < pieces.length - 1; i++) {
    const found = name.indexOf(pieces[i]!, at);
    if (found < 0 || found + pieces[i]!.length > end) return false;
    at = found + pieces[i]!.length;
  }
  return true;
}

/** The operator's environment policy, compiled: resolves each function's `env` names to values. */
export class EnvAccess {
  readonly #source: Readonly<Record<string, string | undefined>>;
  readonly #allow: readonly (readonly string[])[];
  readonly #patterns: readonly string[];

  /** @throws ConfigError for an allow-list entry that can match no variable name */
  constructor(opts: EnvPolicyOptions = {}) {
    this.#source = opts.env ?? process.env;
    this.#patterns = [...(opts.allowEnv ?? [])];
    for (const pattern of this.#patterns) {
      const problem = envPatternProblem(pattern);
      if (problem !== undefined) throw new ConfigError(`invalid allowEnv entry ${JSON.stringify(pattern)}: ${problem}`);
    }
    this.#allow = this.#patterns.map((p) => p.split('*'));
  }

  /** True when functions may read `name`. */
  allows(name: string): boolean {
    return !name.startsWith(OWN_PREFIX) && this.#allow.some((pieces) => globMatches(pieces, name));
  }

  /**
   * The values function `fn` (entry file `file`) gets for the names its manifest declares; a
   * declared name without a value is left out (`ctx.env.NAME` is undefined).
   * @throws EnvNotAllowedError naming every declared name that is not allowed
   */
  resolve(fn: string, file: string, names: readonly string[]): Record<string, string> {
    const own = names.filter((n) => n.startsWith(OWN_PREFIX));
    if (own.length > 0) throw new EnvNotAllowedError(fn, file, own, true);
    const refused = names.filter((n) => !this.allows(n));
    if (refused.length > 0) throw new EnvNotAllowedError(fn, file, refused, false);
    const env: Record<string, string> = {};
    for (const name of names) {
      const value = this.#source[name];
      if (value !== undefined) env[name] = value;
    }
    return env;
  }

  /**
   * For validating functions without running them (`fnrun deploy`): every name but fnrun's own
   * is allowed, and no value is given; the operator of `fnrun start` decides later.
   */
  static forValidation(): EnvAccess {
    return new EnvAccess({ env: {}, allowEnv: ['*'] });
  }
}
