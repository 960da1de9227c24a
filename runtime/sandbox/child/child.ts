/**
 * Entry of the sandbox process (forked by SandboxHost with --no-node-snapshot). Holds one isolate
 * per loaded function version, answers the parent's requests, sends heartbeats from its main thread,
 * and on a catastrophic error or a wedged isolate reports the culprit and kills itself: after such
 * errors isolated-vm leaves a thread spinning or sleeping forever, and even process.exit() can hang.
 */
import { SandboxError } from '../../errors.ts';
import { FunctionSandbox, type SandboxDeps } from './function-sandbox.ts';
import { HEARTBEAT_INTERVAL_MS, type ChildMessage, type Culprit, type ParentMessage, type SandboxStatus } from '../protocol.ts';
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

function fatal(reason: string, culprit: Culprit | null): void {
  if (dying) return;
  dying = true;
  setTimeout(killSelf, 1_000); // if the report cannot be written, die anyway
  process.send?.({ t: 'fatal', reason, culprit } satisfies ChildMessage, undefined, undefined, () => killSelf());
}

const watchdog = new Watchdog(fatal, () => sandboxes.values());
const deps: SandboxDeps = { watchdog, fatal };

function answer(rid: number, work: Promise<ChildMessage>): void {
  work.then(send, (e: unknown) => {
    const code = e instanceof SandboxError && e.code === 'ERR_SANDBOX_LOAD' ? 'ERR_SANDBOX_LOAD' : 'ERR_SANDBOX';
    send({ t: 'err', rid, code, message: e instanceof Error ? e.message : String(e) });
  });
}

async function load(m: Extract<ParentMessage, { t: 'load' }>): Promise<ChildMessage> {
  const { sandbox, configJson } = await FunctionSandbox.load(m.spec, deps, m.rid);
  // A new load of a loaded id replaces it only once the new version booted.
  sandboxes.get(m.spec.id)?.dispose();
  sandboxes.set(m.spec.id, sandbox);
  return { t: 'ok', rid: m.rid, value: configJson };
}

async function invoke(m: Extract<ParentMessage, { t: 'invoke' }>): Promise<ChildMessage> {
  const sb = sandboxes.get(m.id);
  if (sb === undefined) throw new SandboxError(`function ${m.id} is not loaded`);
  const outcome = await sb.invoke(m.rid, m.batch, m.count);
  return 'json' in outcome ? { t: 'ok', rid: m.rid, value: outcome.json } : { t: 'killed', rid: m.rid, culprit: outcome.culprit };
}

async function status(): Promise<SandboxStatus> {
  const heapUsedBytes: Record<string, number> = {};
  // Heap statistics queue behind a running batch on the isolate's thread: wait a little, never long.
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
    case 'invoke':
      return answer(m.rid, invoke(m));
    case 'status':
      return answer(m.rid, status().then((value): ChildMessage => ({ t: 'ok', rid: m.rid, value })));
  }
});

// Orphaned (the parent died): nothing can use the isolates any more.
process.on('disconnect', killSelf);
process.on('uncaughtException', (e) => fatal(`sandbox process bug: ${e.stack ?? String(e)}`, null));
process.on('unhandledRejection', (e) => fatal(`sandbox process bug: ${e instanceof Error ? e.stack : String(e)}`, null));

setInterval(() => send({ t: 'hb' }), HEARTBEAT_INTERVAL_MS);
send({ t: 'ready', pid: process.pid, execArgv: process.execArgv });
