/**
 * A private Redis Cluster per test file: N masters on loopback TCP (no replicas), killed at the end.
 * For code that must work when the keys of different partitions live on different nodes.
 */
import { execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { freePort, killHard, spawnRedisServer } from './redis-process.ts';
import { waitFor } from './wait-for.ts';

const SLOTS = 16_384;

export interface TestRedisCluster {
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,…`, one seed per master. */
  url: string;
  /** The masters' ports (each node's cluster bus is port + 10000). */
  ports: number[];
  /**
   * A fresh ioredis `Cluster` client; closed by stop(). Typed as `Redis` (it is not one: a cast)
   * so it drops into code written against `Redis`; the commands tests use have the same shape.
   */
  client(): Redis;
  /** SIGKILLs every node and removes the temp dir. */
  stop(): Promise<void>;
}

/**
 * Starts `masters` cluster nodes, joins them with `redis-cli --cluster create`, and resolves once
 * every node reports `cluster_state:ok` and sees all 16384 slots served.
 * @param opts.masters - number of masters; Redis Cluster needs at least 3. @defaultValue 3
 */
export async function startRedisCluster(opts: { masters?: number } = {}): Promise<TestRedisCluster> {
  const masters = opts.masters ?? 3;
  if (masters < 3) throw new Error(`startRedisCluster: masters must be at least 3 (got ${masters}); redis-cli refuses fewer`);
  const dir = mkdtempSync(join(tmpdir(), 'fnrun-cluster-'));
  const nodes: ChildProcess[] = [];
  const clients: Cluster[] = [];
  const stop = async () => {
    for (const c of clients) c.disconnect();
    await Promise.all(nodes.map(killHard));
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const ports: number[] = [];
    for (let i = 0; i < masters; i++) ports.push(await freePort({ clusterBus: true }));
    // allSettled, not all: a failed start must not leave its siblings running unrecorded.
    const started = await Promise.allSettled(ports.map((port) => {
      const logFile = join(dir, `redis-${port}.log`);
      return spawnRedisServer([
        '--port', String(port), '--bind', '127.0.0.1',
        '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        '--save', '', '--appendonly', 'no', '--dir', dir,
        '--daemonize', 'no', '--loglevel', 'warning', '--logfile', logFile,
      ], port, logFile);
    }));
    for (const result of started) {
      if (result.status === 'fulfilled') nodes.push(result.value);
    }
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;

    await promisify(execFile)('redis-cli', [
      '--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes',
    ], { timeout: 30_000 });
    // redis-cli returns once the nodes agree on the config, but each node still answers
    // CLUSTERDOWN until its own view says every slot is served: wait for all of them.
    await waitFor(async () => {
      for (const port of ports) if (!(await clusterReady(port))) return false;
      return true;
    }, { timeoutMs: 20_000, message: `cluster ${ports.join(',')} did not reach cluster_state:ok` });

    return {
      url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
      ports,
      client() {
        const c = new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })), {
          redisOptions: { maxRetriesPerRequest: null },
        });
        c.on('error', () => {});
        clients.push(c);
        return c as unknown as Redis;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Whether the node on `port` says `cluster_state:ok` and its CLUSTER SLOTS covers every slot. */
async function clusterReady(port: number): Promise<boolean> {
  const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  try {
    await probe.connect();
    const info = await probe.cluster('INFO');
    if (!/^cluster_state:ok\r?$/m.test(info)) return false;
    // Each entry: [firstSlot, lastSlot, master, ...replicas]; ranges do not overlap.
    const ranges = (await probe.cluster('SLOTS')) as [number, number, ...unknown[]][];
    return ranges.reduce((sum, [first, last]) => sum + (last - first + 1), 0) === SLOTS;
  } finally {
    probe.disconnect();
  }
}
