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
  'ERR_SANDBOX_LOAD',
  'ERR_PAYLOAD_TOO_LARGE',
  'ERR_PARTITIONS_MISMATCH',
  'ERR_INVALID_EVENT',
  'ERR_NOT_FOUND',
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

/** An event (or an emit) is larger than the configured limit. */
export class PayloadTooLargeError extends FnrunError {
  constructor(sizeBytes: number, limitBytes: number) {
    super('ERR_PAYLOAD_TOO_LARGE', `event data is ${sizeBytes} bytes, over the ${limitBytes}-byte limit (maxEventBytes)`);
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
  constructor(namespace: string, stored: number, configured: number) {
    super(
      'ERR_PARTITIONS_MISMATCH',
      `namespace "${namespace}" has ${stored} partitions in Redis but ${configured} were configured; ` +
        `pass partitions: ${stored} (or omit it), or use another namespace`,
    );
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
