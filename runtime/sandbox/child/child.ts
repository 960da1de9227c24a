/**
 * Entry of the sandbox process (forked by SandboxHost with --no-node-snapshot). Holds the isolates
 * of every loaded function version, answers the parent's requests, sends heartbeats from its main
 * thread, and on a catastrophic error or a wedged isolate reports the culprit and kills itself:
 * after such errors isolated-vm leaves a thread spinning or sleeping forever, and even
 * process.exit() can hang.
 *
 * Results are sent in batches: everything reported during one turn of the event loop goes in one
 * message (or several, each at most RESULTS_FLUSH_CHARS), so the IPC cost is per turn, not per event.
 */
import { SandboxError } from '../../errors.ts';
import { FunctionSandbox, type SandboxDeps } from './function-sandbox.ts';
import { HEARTBEAT_INTERVAL_MS, RESULTS_FLUSH_CHARS, type ChildMessage, type Culprit, type ParentMessage, type ResultPart, type SandboxStatus } from '../protocol.ts';
import { SKIPPED_JSON } from '../results.ts';
import { SHIM_LIMITS } from '../limits.ts';
import { Watchdog } from './watchdog.ts';

const sandboxes = new Map<string, FunctionSandbox>();
let dying = false;

function send(m: ChildMessage): void {
  if (!dying) process.send?.(m);
}

function killSelf(): never {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}

function fatal(reason: string, culprit: Culprit | null, blameless = false): void {
  if (dying) return;
  flushResults(); // what finished before the crash is not lost
  dying = true;
  setTimeout(killSelf, 1_000); // if the report cannot be written, die anyway
  process.send?.({ t: 'fatal', reason, culprit, blameless } satisfies ChildMessage, undefined, undefined, () => killSelf());
}

let parts: ResultPart[] = [];
let partChars = 0;
let flushScheduled = false;

function emit(part: ResultPart): void {
  parts.push(part);
  partChars += typeof part[2] === 'number' ? 8 : part[2].length;
  if (partChars >= RESULTS_FLUSH_CHARS) flushResults();
  else if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushResults);
  }
}

function flushResults(): void {
  flushScheduled = false;
  if (parts.length === 0) return;
  const batch = parts;
  parts = [];
  partChars = 0;
  send({ t: 'results', parts: batch });
}

let stateRequests = 0;
const stateWaiters = new Map<number, { resolve(json: string): void; reject(e: Error): void }>();

function readState(fnId: string, cid: number, key: string): Promise<string> {
  const req = ++stateRequests;
  return new Promise((resolve, reject) => {
    stateWaiters.set(req, { resolve, reject });
    send({ t: 'state-read', req, fnId, cid, key });
  });
}

new Watchdog(() => sandboxes.values(), fatal);
const deps: SandboxDeps = { emit, readState, fatal, limits: SHIM_LIMITS };

function answer(rid: number, work: Promise<ChildMessage>): void {
  work.then(send, (e: unknown) => {
    const code = e instanceof SandboxError && e.code === 'ERR_SANDBOX_LOAD' ? 'ERR_SANDBOX_LOAD' : 'ERR_SANDBOX';
    send({ t: 'err', rid, code, message: e instanceof Error ? e.message : String(e) });
  });
}

async function load(m: Extract<ParentMessage, { t: 'load' }>): Promise<ChildMessage> {
  const { sandbox, configJson } = await FunctionSandbox.load(m.spec, deps);
  // A new load of a loaded id replaces it only once the new version booted.
  sandboxes.get(m.spec.id)?.dispose();
  sandboxes.set(m.spec.id, sandbox);
  return { t: 'ok', rid: m.rid, value: configJson };
}

async function status(): Promise<SandboxStatus> {
  const heapUsedBytes: Record<string, number> = {};
  // Heap statistics queue behind a running call on the isolate's thread: wait a little, never long.
  const late = new Promise<null>((resolve) => setTimeout(() => resolve(null), 200).unref());
  await Promise.all([...sandboxes].map(async ([id, sb]) => {
    const used = await Promise.race([sb.heapUsedBytes(), late]);
    if (used !== null) heapUsedBytes[id] = used;
  }));
  return { pid: process.pid, execArgv: process.execArgv, loaded: [...sandboxes.keys()], rssBytes: process.memoryUsage.rss(), heapUsedBytes };
}

process.on('message', (m: ParentMessage) => {
  if (dying) return;
  switch (m.t) {
    case 'load':
      return answer(m.rid, load(m));
    case 'unload':
      sandboxes.get(m.id)?.dispose();
      sandboxes.delete(m.id);
      return send({ t: 'ok', rid: m.rid, value: null });
    case 'run': {
      const sb = sandboxes.get(m.id);
      if (sb !== undefined) return sb.run(m.chains);
      // Unloaded meanwhile: nothing ran; the host sends them again, to the version loaded now.
      for (const c of m.chains) for (let i = 0; i < c.count; i++) emit([c.cid, i, SKIPPED_JSON]);
      return;
    }
    case 'state': {
      const waiter = stateWaiters.get(m.req);
      stateWaiters.delete(m.req);
      if (m.error !== null) waiter?.reject(new Error(m.error));
      else waiter?.resolve(m.json ?? '{}');
      return;
    }
    case 'status':
      return answer(m.rid, status().then((value): ChildMessage => ({ t: 'ok', rid: m.rid, value })));
  }
});

// Orphaned (the parent died): nothing can use the isolates any more.
process.on('disconnect', killSelf);
// A service manager that signals every process of the service (systemd's default
// KillMode=control-group) must not take the sandbox away while the parent drains: the parent ends
// it, and if the parent dies the IPC channel closes (above).
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => {});
process.on('uncaughtException', (e) => fatal(`sandbox process bug: ${e.stack ?? String(e)}`, null));
process.on('unhandledRejection', (e) => fatal(`sandbox process bug: ${e instanceof Error ? e.stack : String(e)}`, null));

setInterval(() => send({ t: 'hb' }), HEARTBEAT_INTERVAL_MS);
send({ t: 'ready', pid: process.pid, execArgv: process.execArgv });
