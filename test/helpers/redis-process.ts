/**
 * Shared by the TCP topologies (cluster, sentinel): free loopback ports and redis-server processes
 * that cannot outlive the test file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { answersPing } from '../../runtime/redis/redis.ts';
import { waitFor } from './wait-for.ts';

// Below the kernel's ephemeral range (32768+), even with the cluster bus offset, so an outgoing
// connection's local port cannot take one of ours between the probe and redis-server's bind.
// 6379/16379/26379 lie outside it: the machine's own Redis is never in the way.
const PORT_MIN = 20_000;
const PORT_MAX = 22_767;
const CLUSTER_BUS_OFFSET = 10_000;
const taken = new Set<number>();

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A loopback port nothing listens on, never returned twice by this process.
 * With `clusterBus`, port + 10000 (where a cluster node talks to its peers) is free too.
 */
export async function freePort(opts: { clusterBus?: boolean } = {}): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN + 1));
    if (taken.has(port)) continue;
    if (!(await canBind(port))) continue;
    if (opts.clusterBus && !(await canBind(port + CLUSTER_BUS_OFFSET))) continue;
    taken.add(port);
    return port;
  }
  throw new Error(`no free port in ${PORT_MIN}-${PORT_MAX}`);
}

function exited(child: ChildProcess): boolean {
  // No pid: the spawn itself failed, and no 'exit' event is guaranteed to follow.
  return child.pid === undefined || child.exitCode !== null || child.signalCode !== null;
}

const live = new Set<ChildProcess>();
// A test file that crashes or times out skips its after() hooks; without this its servers would
// keep running (and keep their ports) after the test process is gone.
process.once('exit', () => {
  for (const child of live) killGroup(child);
});

/**
 * SIGKILLs the server's process group: the server and any child it forked (an AOF rewrite or an
 * RDB save for a replica's full sync), which would otherwise outlive it by seconds.
 */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL'); // the group is gone already (ESRCH): the server itself may not be
  }
}

/**
 * Spawns `redis-server args…` and resolves once 127.0.0.1:`port` answers PING (so not while it is
 * still loading its AOF). `logFile` is named in the error when the server exits early.
 */
export async function spawnRedisServer(args: string[], port: number, logFile: string): Promise<ChildProcess> {
  // Its own process group (see killGroup).
  const child = spawn('redis-server', args, { stdio: 'ignore', detached: true });
  let spawnError: Error | null = null;
  child.once('error', (error) => { spawnError = error; });
  live.add(child);
  child.once('exit', () => live.delete(child));
  try {
    // An early exit ends the wait at once (waitFor would keep polling a thrown error until timeout).
    await waitFor(async () => spawnError ?? (exited(child) || answersPing({ host: '127.0.0.1', port })), {
      timeoutMs: 10_000,
      message: `redis-server on port ${port} did not start; see ${logFile}`,
    });
    if (spawnError) throw spawnError;
    if (exited(child)) throw new Error(`redis-server on port ${port} exited early; see ${logFile}`);
  } catch (error) {
    await killHard(child);
    throw error;
  }
  return child;
}

/** SIGKILLs a server and its children (no shutdown save, like a crash) and resolves once it is gone. */
export async function killHard(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  killGroup(child);
  await gone;
}

/** Runs `fn` on a short-lived connection to 127.0.0.1:`port`: no retries, so a down node fails fast. */
export async function withProbe<T>(port: number, fn: (probe: Redis) => Promise<T>): Promise<T> {
  const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return await fn(probe);
  } finally {
    probe.disconnect();
  }
}

/** One `field:value` line of INFO `section` of the server on `port`. */
export async function infoField(port: number, section: string, field: string): Promise<string | undefined> {
  const info = await withProbe(port, (probe) => probe.info(section));
  return new RegExp(`^${field}:(.*?)\\r?$`, 'm').exec(info)?.[1];
}
