/**
 * What every backlog scenario does: a temp project with the scenario's function files, a
 * `Runtime` on it, and the invocations per second from `runtime.start()` resolving until the
 * `target`-th counted invocation. Only invocations after start count: start-up (forking the
 * sandbox process, esbuild, booting isolates) is a one-off cost, not throughput, and the
 * baselines do not pay for theirs either.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJsonLogger, Runtime, type InvocationRecord } from '../runtime/index.ts';
import { sampleRss } from './rss.ts';

export interface DrainArgs {
  url: string;
  namespace: string;
  partitions: number;
  /** Function file name → source (each with `startFrom: 'earliest'`, to read the backlog). */
  files: Record<string, string>;
  /** Invocations to wait for. */
  target: number;
  /**
   * Sees every invocation; returns an Error to end the drain with it (a failed check), else
   * nothing. Without one, the runtime's hook is as cheap as a counter gets.
   */
  check?: (record: InvocationRecord) => Error | undefined;
}

/** Invocations per second (throws the first Error `check` returned). */
export async function drainRate({ url, namespace, partitions, files, target, check }: DrainArgs): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'fnrun-bench-fns-'));
  mkdirSync(join(dir, 'functions'));
  for (const [name, source] of Object.entries(files)) writeFileSync(join(dir, 'functions', name), source);
  let handled = 0;
  let failure: Error | undefined;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => { done = resolve; });
  const onInvocation = check === undefined
    ? () => { if (++handled === target) done(); }
    : (r: InvocationRecord) => { failure ??= check(r); if (++handled === target || failure !== undefined) done(); };
  const runtime = await Runtime.create({
    redis: url, namespace, partitions, functionsDir: join(dir, 'functions'), logger: createJsonLogger('silent'), onInvocation,
  });
  try {
    await runtime.start();
    if (runtime.loadFailures.length > 0) throw runtime.loadFailures[0]!.error;
    const t0 = performance.now();
    const before = handled;
    await finished;
    if (failure !== undefined) throw failure;
    const seconds = (performance.now() - t0) / 1000;
    sampleRss();
    return (target - before) / seconds;
  } finally {
    await runtime.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
