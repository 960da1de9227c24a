/**
 * Scenario "startup": a runtime wired as `fnrun start` wires it (leases, the registry follower)
 * starting with `functions` deployed functions (deployed beforehand, by another process), on an
 * idle namespace.
 *
 * - start: from `Runtime.create` (connecting to Redis) until the registry follower has loaded
 *   every deployed function and its workers run on every owned partition (what `fnrun start` does
 *   before it logs "ready"); Node's own start-up and module loading are not in it.
 * - memory, once started and idle for a second: the resident set (VmRSS) of this process and of
 *   its sandbox process. Per function = the difference to the same measure with 1 function, over
 *   the extra functions (run.ts computes it; both runs are fresh processes of the same run).
 * - first events: then one event is published to each function at once, and timed until every
 *   function handled its own: deployed versions boot their isolates on their first event, so this
 *   is what the lazy start defers; the sandbox's VmRSS is measured again after it (every function
 *   with its isolate).
 *
 * `code` says what runs: `package`, the built package in dist/ (what `npm install fnrun` runs:
 * plain JavaScript), or `sources`, the repository's TypeScript, which Node strips of its types as
 * it loads it (the sandbox process pays that on every start; an installed fnrun never does).
 */
import { readdirSync, readFileSync } from 'node:fs';
import type * as RuntimeApi from '../runtime/index.ts';
import type * as FollowerModule from '../runtime/drivers/registry-follower.ts';
import type * as RedisModule from '../runtime/redis/redis.ts';

export interface StartupArgs {
  url: string;
  namespace: string;
  partitions: number;
  functions: number;
  code: 'package' | 'sources';
}

/** The modules the scenario uses, from dist/ or from the sources. */
async function modules(code: StartupArgs['code']): Promise<{ api: typeof RuntimeApi; follower: typeof FollowerModule; redis: typeof RedisModule }> {
  const at = (file: string) => new URL(code === 'package' ? `../dist/runtime/${file}.js` : `../runtime/${file}.ts`, import.meta.url).href;
  const [api, follower, redis] = await Promise.all([import(at('index')), import(at('drivers/registry-follower')), import(at('redis/redis'))]);
  return { api, follower, redis };
}

export interface StartupResult {
  startMs: number;
  mainRssMb: number;
  sandboxRssMb: number;
  mainHeapMb: number;
  firstEventsMs: number;
  sandboxRssAfterMb: number;
}

/** Source of function `i` of the start-up scenario: trivial, and distinct (its own content hash). */
export function startupFunction(i: number): string {
  return `export const config = { events: ['startup.e${i}'] };\nexport default async function handler(event: unknown, ctx: { log: { info(...a: unknown[]): void } }) { ctx.log.info('fn ${i}', event); }\n`;
}

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

function sandboxPid(): number {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('sandbox/child')) return Number(name);
    } catch {
      // exited meanwhile
    }
  }
  throw new Error('no sandbox process found');
}

export async function measure({ url, namespace, partitions, functions, code }: StartupArgs): Promise<StartupResult> {
  const { api: { createJsonLogger, Publisher, Registry, Runtime }, follower: { RegistryFollower }, redis: { connectRedis } } = await modules(code);
  const logger = createJsonLogger('silent');
  const handled = new Set<string>();
  let allHandled: ((failure?: Error) => void) | null = null;
  // A first event that fails (an isolate boot that times out on a loaded machine) ends the round
  // with its error at once, instead of leaving it waiting for an `ok` that will not come.
  const onInvocation = (r: { function: string; status: string; attempt: number; error?: { message: string } }) => {
    if (r.status === 'ok') handled.add(r.function);
    else allHandled?.(new Error(`function ${r.function}'s first event: ${r.status} (attempt ${r.attempt}): ${r.error?.message ?? 'no error'}`));
    if (handled.size === functions) allHandled?.();
  };
  const t0 = performance.now();
  const runtime = await Runtime.create({ redis: url, namespace, partitions, leases: {}, logger, onInvocation });
  const registryRedis = await connectRedis(url, 'fnrun-registry');
  const follower = new RegistryFollower(runtime, new Registry(registryRedis, runtime.keys), logger);
  try {
    await runtime.start();
    await follower.start();
    const startMs = performance.now() - t0;
    if (runtime.functions.length !== functions) throw new Error(`${runtime.functions.length} of ${functions} functions running`);
    await new Promise((r) => setTimeout(r, 1000));
    // What stays, not what a collection has yet to free: start-up's garbage is not a per-function
    // cost, and when V8 collects it is luck (the child runs with --expose-gc).
    (globalThis as { gc?: () => void }).gc?.();
    const idle = { startMs, mainRssMb: rssMb(process.pid), sandboxRssMb: rssMb(sandboxPid()), mainHeapMb: process.memoryUsage().heapUsed / 2 ** 20 };
    const publisher = await Publisher.connect({ redis: url, namespace });
    try {
      const done = new Promise<void>((resolve, reject) => { allHandled = (failure) => (failure ? reject(failure) : resolve()); });
      const t1 = performance.now();
      await publisher.publishBatch(Array.from({ length: functions }, (_, i) => ({ type: `startup.e${i}`, key: `k${i}`, data: {} })));
      await done;
      const firstEventsMs = performance.now() - t1;
      return { ...idle, firstEventsMs, sandboxRssAfterMb: rssMb(sandboxPid()) };
    } finally {
      await publisher.close();
    }
  } finally {
    await follower.stop();
    await runtime.stop();
    registryRedis.disconnect();
  }
}
