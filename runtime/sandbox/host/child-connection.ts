/**
 * One sandbox process as the parent sees it: spawn, messages, liveness, SIGKILL. It reports its
 * death exactly once, with the child's own account of it when the child managed to send one.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { SandboxError } from '../../errors.ts';
import { ownModulePath } from '../../package-paths.ts';
import { HEARTBEAT_TIMEOUT_MS, type ChildMessage, type Culprit, type ParentMessage } from '../protocol.ts';

const CHILD_ENTRY = ownModulePath('../child/child.ts', import.meta.url);
/** The child must be up within this long (Node start-up, loading isolated-vm). */
const STARTUP_TIMEOUT_MS = 15_000;

/** Why a child died, as far as anyone knows. */
export interface Death {
  reason: string;
  culprit: Culprit | null;
  /** True when the child said what happened (a `fatal` message) before it died. */
  reported: boolean;
  /** The child said no live invocation is at fault (see the `fatal` message). */
  blameless: boolean;
}

/** One forked sandbox process; reports its death exactly once through `onDeath`. */
export class ChildConnection {
  readonly #proc: ChildProcess;
  readonly #onMessage: (m: ChildMessage) => void;
  readonly #onDeath: (d: Death) => void;
  readonly ready: Promise<{ pid: number; execArgv: string[] }>;
  readonly exited: Promise<void>;
  #readyAt = 0;
  #startedAt = Date.now();
  #lastSeen = Date.now();
  #dead = false;

  constructor(onMessage: (m: ChildMessage) => void, onDeath: (d: Death) => void) {
    this.#onMessage = onMessage;
    this.#onDeath = onDeath;
    // The isolated-vm README requires --no-node-snapshot on Node >= 20; the parent's own flags
    // (--test, --inspect...) are not the child's business.
    // 'advanced' serialization copies the large strings (bundles, batches, results) as they are
    // instead of escaping them into JSON.
    // detached: its own process group, so a Ctrl-C (SIGINT to the terminal's group) or a signal to
    // our group reaches only us and we drain; the child still dies with us (its IPC channel closes).
    this.#proc = fork(CHILD_ENTRY, [], {
      execPath: process.execPath,
      execArgv: ['--no-node-snapshot'],
      serialization: 'advanced',
      detached: true,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let markReady: (v: { pid: number; execArgv: string[] }) => void = () => {};
    let failReady: (e: Error) => void = () => {};
    this.ready = new Promise((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    this.ready.catch(() => {}); // observed by whoever awaits it; death is reported through onDeath
    this.exited = new Promise((resolve) => this.#proc.once('exit', () => resolve()));
    this.#proc.on('message', (m: ChildMessage) => {
      this.#lastSeen = Date.now();
      if (this.#dead) return;
      if (m.t === 'ready') {
        this.#readyAt = this.#lastSeen;
        markReady({ pid: m.pid, execArgv: m.execArgv });
      } else if (m.t === 'fatal') {
        this.#die({ reason: m.reason, culprit: m.culprit, reported: true, blameless: m.blameless === true });
      } else if (m.t !== 'hb') this.#onMessage(m);
    });
    this.#proc.once('exit', (code, signal) => {
      failReady(new SandboxError(`the sandbox process exited (${signal ?? `code ${code}`}) before it was ready`));
      this.#die({ reason: `the sandbox process exited unexpectedly (${signal ?? `code ${code}`})`, culprit: null, reported: false, blameless: false });
    });
    this.#proc.on('error', (e) => this.#die({ reason: `sandbox process error: ${e.message}`, culprit: null, reported: false, blameless: false }));
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  get alive(): boolean {
    return !this.#dead;
  }

  /** False when the message could not be sent (the child is then treated as dead). */
  send(m: ParentMessage): boolean {
    if (this.#dead) return false;
    try {
      this.#proc.send(m);
      return true;
    } catch (e) {
      this.kill(`cannot send to the sandbox process: ${(e as Error).message}`);
      return false;
    }
  }

  /**
   * Kills the child if it stopped answering. `parentWasBlocked`: our own event loop stalled, so the
   * heartbeats may be sitting unread in the pipe; judge again from now.
   */
  checkLiveness(now: number, parentWasBlocked: boolean): void {
    if (this.#dead) return;
    if (parentWasBlocked) {
      this.#lastSeen = now;
      return;
    }
    if (this.#readyAt === 0) {
      if (now - this.#startedAt > STARTUP_TIMEOUT_MS) this.kill(`the sandbox process did not start within ${STARTUP_TIMEOUT_MS} ms`);
    } else if (now - this.#lastSeen > HEARTBEAT_TIMEOUT_MS) {
      this.kill(`the sandbox process sent no heartbeat for ${now - this.#lastSeen} ms (hung)`);
    }
  }

  /** SIGKILL: nothing in the child needs a graceful end, and a wedged one would not honour SIGTERM. */
  kill(reason: string): void {
    this.#die({ reason, culprit: null, reported: false, blameless: false });
  }

  #die(d: Death): void {
    if (this.#proc.exitCode === null && this.#proc.signalCode === null) this.#proc.kill('SIGKILL');
    if (this.#dead) return;
    this.#dead = true;
    this.#onDeath(d);
  }
}
