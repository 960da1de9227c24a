/**
 * Every error fnrun raises on purpose is a {@link FnrunError} with a stable `code`, and the code
 * alone says whose it is (as miniflare's user and system code sets do):
 * - {@link USER_ERROR_CODES}: the input is wrong (flags, manifest, code, event); the message says
 *   what to change;
 * - {@link OPERATIONAL_ERROR_CODES}: the environment is (Redis unreachable, replicas behind);
 *   nothing to fix in the input, but nothing to report either;
 * - everything else is a bug in fnrun.
 * The CLI prints the first two as one line (exit 1) and a bug with its stack (exit 70).
 */
export const USER_ERROR_CODES = [
  'ERR_CONFIG',
  'ERR_MANIFEST',
  'ERR_BUNDLE',
  'ERR_TYPECHECK',
  'ERR_SANDBOX_LOAD',
  'ERR_PAYLOAD_TOO_LARGE',
  'ERR_PARTITIONS_MISMATCH',
  'ERR_INVALID_EVENT',
  'ERR_NOT_FOUND',
  'ERR_ENV_NOT_ALLOWED',
  /** A request to the browser UI's API is malformed or not allowed (runtime/ops/ui/). */
  'ERR_BAD_REQUEST',
] as const;

/** See {@link USER_ERROR_CODES}. */
export const OPERATIONAL_ERROR_CODES = ['ERR_REDIS', 'ERR_NOT_REPLICATED'] as const;

/** See {@link USER_ERROR_CODES}. */
export const SYSTEM_ERROR_CODES = ['ERR_SANDBOX', 'ERR_INTERNAL'] as const;

export type UserErrorCode = (typeof USER_ERROR_CODES)[number];
export type OperationalErrorCode = (typeof OPERATIONAL_ERROR_CODES)[number];
export type SystemErrorCode = (typeof SYSTEM_ERROR_CODES)[number];
export type ErrorCode = UserErrorCode | OperationalErrorCode | SystemErrorCode;

const USER_CODES: ReadonlySet<string> = new Set(USER_ERROR_CODES);
const OPERATIONAL_CODES: ReadonlySet<string> = new Set(OPERATIONAL_ERROR_CODES);

/** Base class of fnrun's errors; what kind of error it is follows from `code` (see {@link USER_ERROR_CODES}). */
export class FnrunError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }

  /** The input is wrong and the message says what to change. */
  get userError(): boolean {
    return USER_CODES.has(this.code);
  }

  /** The error is the user's or the environment's, not fnrun's: print it as one line. */
  get expected(): boolean {
    return USER_CODES.has(this.code) || OPERATIONAL_CODES.has(this.code);
  }
}

/** True for a {@link FnrunError} that is not a bug (also one rebuilt by name after crossing a process). */
export function isExpectedError(error: unknown): error is FnrunError {
  return error instanceof FnrunError && error.expected;
}

/** One problem in one manifest field. `path` is dotted (`retry.attempts`). */
export interface ManifestIssue {
  path: string;
  message: string;
}

/** A function's `config` failed validation: names the file, each field and why. */
export class ManifestError extends FnrunError {
  readonly file: string;
  readonly issues: readonly ManifestIssue[];
  constructor(file: string, issues: readonly ManifestIssue[]) {
    const detail = issues.map((i) => `  ${i.path || '(config)'}: ${i.message}`).join('\n');
    super('ERR_MANIFEST', `invalid manifest in ${file}:\n${detail}`);
    this.file = file;
    this.issues = issues;
  }
}

/** esbuild could not bundle a function; `location` is `file:line:column` when known. */
export class BundleError extends FnrunError {
  readonly file: string;
  readonly location: string | undefined;
  constructor(file: string, message: string, location?: string) {
    super('ERR_BUNDLE', `cannot bundle ${file}: ${location ? `${location}: ` : ''}${message}`);
    this.file = file;
    this.location = location;
  }
}

/** One TypeScript error, positioned in the function's source (1-based line and column). */
export interface TypeIssue {
  /** Relative to the folder above the functions folder (`functions/hello.ts`); null for the tsconfig's own problems. */
  file: string | null;
  line: number;
  column: number;
  /** TypeScript's error number (2551 for TS2551). */
  code: number;
  message: string;
}

/** `functions/hello.ts:7:15: Property 'emitt' does not exist … (TS2551)`; continuation lines of the message indented. */
export function formatTypeIssue(issue: TypeIssue): string {
  const where = issue.file === null ? 'tsconfig' : `${issue.file}:${issue.line}:${issue.column}`;
  return `${where}: ${issue.message.split('\n').join('\n    ')} (TS${issue.code})`;
}

/** A function has type errors (when type-checking is asked for and TypeScript is installed). */
export class TypecheckError extends FnrunError {
  readonly file: string;
  readonly issues: readonly TypeIssue[];
  constructor(file: string, issues: readonly TypeIssue[]) {
    const first = issues[0];
    const more = issues.length - 1;
    const head = first === undefined ? 'type errors' : formatTypeIssue(first).split('\n')[0];
    super('ERR_TYPECHECK', `type error in ${file}: ${head}${more > 0 ? ` (and ${more} more; fnrun check lists them)` : ''}`);
    this.file = file;
    this.issues = issues;
  }
}

/** Invalid runtime or CLI configuration. */
export class ConfigError extends FnrunError {
  constructor(message: string) {
    super('ERR_CONFIG', message);
  }
}

/** The sandbox process failed in a way that is not one handler's fault (or could not load a function). */
export class SandboxError extends FnrunError {
  constructor(message: string, options?: { cause?: unknown; code?: 'ERR_SANDBOX' | 'ERR_SANDBOX_LOAD' }) {
    super(options?.code ?? 'ERR_SANDBOX', message, { cause: options?.cause });
  }
}

/** An event (or an emit) is larger than the configured limit: its data, key and headers together. */
export class PayloadTooLargeError extends FnrunError {
  /** @param problem - what is too big, as `eventSizeProblem` (events/wire.ts) says it */
  constructor(problem: string) {
    super('ERR_PAYLOAD_TOO_LARGE', `${problem} (maxEventBytes)`);
  }
}

/**
 * A publish reached the primary, but fewer replicas than asked acknowledged it in time: a failover
 * now could lose it. Publish again with the same dedupe id: a copy that did survive is not doubled.
 */
export class NotReplicatedError extends FnrunError {
  readonly acknowledged: number;
  constructor(acknowledged: number, wanted: number, timeoutMs: number) {
    super('ERR_NOT_REPLICATED', `only ${acknowledged} of ${wanted} replica(s) acknowledged the publish within ${timeoutMs} ms: it may be lost if the primary fails now; publish again with the same dedupeId`);
    this.acknowledged = acknowledged;
  }
}

/** The namespace was created with another partition count. */
export class PartitionsMismatchError extends FnrunError {
  readonly namespace: string;
  /** The count stored in Redis: the one to pass. */
  readonly stored: number;
  readonly configured: number;
  constructor(namespace: string, stored: number, configured: number) {
    super(
      'ERR_PARTITIONS_MISMATCH',
      `namespace "${namespace}" has ${stored} partitions in Redis but ${configured} were configured; ` +
        `pass partitions: ${stored} (or omit it), or use another namespace`,
    );
    this.namespace = namespace;
    this.stored = stored;
    this.configured = configured;
  }
}

/** Why a first connection to Redis failed (see {@link RedisConnectError}). */
export type RedisConnectFailure = 'refused' | 'dns' | 'timeout' | 'auth' | 'no-socket' | 'tls' | 'other';

/**
 * The first connection to Redis failed: nothing listens there, the host does not resolve, no
 * answer in time, or the credentials were refused. `address` is the URL without its password.
 */
export class RedisConnectError extends FnrunError {
  readonly address: string;
  readonly failure: RedisConnectFailure;
  constructor(address: string, failure: RedisConnectFailure, detail: string, options?: { cause?: unknown }) {
    super('ERR_REDIS', `cannot reach Redis at ${address}: ${detail}`, options);
    this.address = address;
    this.failure = failure;
  }
}

/** A publish call got an argument that can never become a valid event. */
export class InvalidEventError extends FnrunError {
  constructor(message: string) {
    super('ERR_INVALID_EVENT', message);
  }
}

/** A function, version or DLQ entry that does not exist. */
export class NotFoundError extends FnrunError {
  constructor(message: string) {
    super('ERR_NOT_FOUND', message);
  }
}

/** A function's manifest declares environment variables the operator did not allow it to read. */
export class EnvNotAllowedError extends FnrunError {
  readonly function: string;
  readonly names: readonly string[];
  /** @param own - the names are fnrun's own (`FNRUN_*`), which no allow-list can grant */
  constructor(fn: string, file: string, names: readonly string[], own: boolean) {
    const list = names.join(', ');
    const them = names.length > 1 ? 'them' : 'it';
    super(
      'ERR_ENV_NOT_ALLOWED',
      own
        ? `function "${fn}" (${file}) declares env ${list}: fnrun's own variables (FNRUN_*) are never visible to functions; remove ${them} from its env`
        : `function "${fn}" (${file}) declares env ${list}, which the operator did not allow; start fnrun with ${names.map((n) => `--allow-env ${n}`).join(' ')} or define ${them} in an --env-file (library: allowEnv: [${names.map((n) => JSON.stringify(n)).join(', ')}])`,
    );
    this.function = fn;
    this.names = names;
  }
}

/**
 * A function's manifest conflicts with the owner of the group it names (the member that joined
 * first; runtime/policy/group-owners.ts): it is refused, the owner and the members that fit run.
 * Each issue names both functions and the field.
 */
export class GroupConflictError extends ManifestError {
  readonly group: string;
  /** The refused function. */
  readonly member: string;
  /** The group's owner, whose settings decide. */
  readonly owner: string;
  constructor(file: string, issues: readonly ManifestIssue[], who: { group: string; member: string; owner: string }) {
    super(file, issues);
    this.group = who.group;
    this.member = who.member;
    this.owner = who.owner;
  }
}
