/**
 * The requests the host sends to the sandbox process that expect one answer (load, unload,
 * status), with their deadlines. Chains of invocations are not requests: see chain-book.ts.
 */
import { SandboxError } from '../../errors.ts';
import { TOP_LEVEL_TIMEOUT_MS, WEDGE_GRACE_MS, type LoadSpec, type ParentMessage, type SandboxStatus } from '../protocol.ts';

interface RequestBase {
  /** Assigned per send: a re-sent request gets a new one, so a stale reply can never settle it. */
  rid: number;
  deadlineAt: number;
  reject(e: Error): void;
}

/** Load a function version (`restore`: a reload into a new child after a crash). */
export type LoadRequest = RequestBase & { kind: 'load'; spec: LoadSpec; restore: boolean; resolve(v: { config: unknown }): void };
/** Dispose a function version's isolates. */
export type UnloadRequest = RequestBase & { kind: 'unload'; id: string; resolve(): void };
/** Ask the child about itself. */
export type StatusRequest = RequestBase & { kind: 'status'; resolve(s: SandboxStatus): void };
/** Any request with one answer. */
export type Request = LoadRequest | UnloadRequest | StatusRequest;

/** Host-side backstop, well past the child's own limits: only a hung child misses it. */
export function requestBudgetMs(r: Request): number {
  // Compiling a large bundle, booting each instance, the top level of each.
  if (r.kind === 'load') return r.spec.limits.instances * (TOP_LEVEL_TIMEOUT_MS + WEDGE_GRACE_MS + 5_000) + 10_000;
  return 10_000;
}

/** The IPC message for a request. */
export function requestMessage(r: Request): ParentMessage {
  switch (r.kind) {
    case 'load':
      return { t: 'load', rid: r.rid, spec: r.spec };
    case 'unload':
      return { t: 'unload', rid: r.rid, id: r.id };
    case 'status':
      return { t: 'status', rid: r.rid };
  }
}

/** Settles a request with the child's successful answer. */
export function settleOk(r: Request, value: unknown): void {
  try {
    switch (r.kind) {
      case 'load':
        return r.resolve({ config: value === null ? null : JSON.parse(value as string) as unknown });
      case 'unload':
        return r.resolve();
      case 'status':
        return r.resolve(value as SandboxStatus);
    }
  } catch (e) {
    r.reject(new SandboxError(`malformed answer from the sandbox: ${(e as Error).message}`, { cause: e }));
  }
}
