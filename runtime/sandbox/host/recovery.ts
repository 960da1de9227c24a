/**
 * The host's side of a child's death, apart from starting the next child: what becomes of each
 * request that was in flight, and how the functions are reloaded into the new child — all at once,
 * or one at a time when a reload of several killed the child, so that the one that kills it is
 * known and dropped.
 */
import { SandboxError } from '../../errors.ts';
import type { LoadSpec } from '../protocol.ts';
import type { ChildConnection, Death } from './child-connection.ts';
import type { LoadRequest, Request } from './requests.ts';

/**
 * Settles request `r`, in flight when the child died; false when it goes to the next child instead.
 * `drop` takes out a function whose reload killed the child.
 */
export function settleAfterDeath(r: Request, death: Death, reloadOneByOne: boolean, drop: (spec: LoadSpec, reason: string) => void): boolean {
  const c = death.culprit;
  if (r.kind === 'status') r.reject(new SandboxError(`the sandbox process died: ${death.reason}`));
  else if (r.kind === 'unload') r.resolve();
  else if (r.restore) {
    // A reload that died: if the child named it, or it was reloading alone, it is the culprit;
    // if several were reloading, the next reload goes one at a time to find out.
    if (c?.fnId === r.spec.id || (c === null && reloadOneByOne)) drop(r.spec, death.reason);
    r.reject(new SandboxError(`reload of ${r.spec.id} failed: ${death.reason}`));
  } else if (c !== null && c.fnId === r.spec.id && c.cid === null) {
    r.reject(new SandboxError(`${r.spec.name}: cannot load: its top-level code killed the sandbox process (${c.message})`, { code: 'ERR_SANDBOX_LOAD' }));
  } else return false;
  return true;
}

/** What reloading needs from the host. */
export interface ReloadHost {
  send(r: LoadRequest): void;
  /** A function is back in the child: its chains may go. */
  reloaded(): void;
  drop(spec: LoadSpec, reason: string): void;
  /** False once the host is no longer restoring (it stopped or failed). */
  restoring(): boolean;
}

/** Reloads `specs` into the new child `conn`; resolves when each one is back or dropped. */
export async function reloadFunctions(conn: ChildConnection, specs: LoadSpec[], oneByOne: boolean, host: ReloadHost): Promise<void> {
  const reload = (spec: LoadSpec) => new Promise<void>((resolve) => {
    const r: LoadRequest = {
      kind: 'load', spec, restore: true, rid: 0, deadlineAt: 0,
      resolve: () => { host.reloaded(); resolve(); },
      // It loaded before and does not now (its top level is not deterministic): drop it.
      reject: (e) => { if (conn.alive) host.drop(spec, e.message); resolve(); },
    };
    host.send(r);
  });
  // Each function's chains go as soon as it is back, even while others still reload.
  if (oneByOne) {
    for (const spec of specs) if (conn.alive && host.restoring()) await reload(spec);
  } else await Promise.all(specs.map(reload));
}
