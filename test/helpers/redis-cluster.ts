/**
 * A private Redis Cluster per test file on loopback TCP, killed at the end: N masters, and with
 * `replicas: 1` one replica per master, for the faults a Cluster has (redis-cluster-faults.ts):
 * a graceful `CLUSTER FAILOVER`, a SIGKILLed master replaced by its replica, live resharding.
 *
 * With replicas, every node writes an fsync-always AOF (like the Sentinel helper), so a SIGKILLed
 * node comes back with every write it acknowledged; without, nothing is persisted (the fast form
 * `npm run test:cluster` uses).
 */
import { execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, type Redis } from 'ioredis';
import { freePort, killHard, spawnRedisServer, withProbe } from './redis-process.ts';
import { clusterFaults, type ClusterFaults } from './redis-cluster-faults.ts';
import { waitFor } from './wait-for.ts';

const SLOTS = 16_384;

/** One node as `CLUSTER NODES` describes it. */
export interface ClusterNode {
  id: string;
  port: number;
  role: 'master' | 'replica';
  /** The master a replica follows (null for a master). */
  masterId: string | null;
  /** Flags such as `fail`, `pfail`, `handshake`, `noaddr` (besides `myself`, `master`, `slave`). */
  flags: string[];
  /** Slot ranges a master serves, inclusive. */
  slots: [number, number][];
}

export interface TestRedisCluster extends ClusterFaults {
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,…`, one seed per node. */
  url: string;
  /** Every node's port, masters first as created (each node's cluster bus is port + 10000). */
  ports: number[];
  /**
   * A fresh ioredis `Cluster` client; closed by stop(). Typed as `Redis` (it is not one: a cast)
   * so it drops into code written against `Redis`; the commands tests use have the same shape.
   */
  client(): Redis;
  /** The nodes as a live node sees them (the first of `ports` that answers). */
  nodes(): Promise<ClusterNode[]>;
  /** The slot of `key` (`CLUSTER KEYSLOT`), e.g. of `{p3}` for partition 3's keys. */
  keySlot(key: string): Promise<number>;
  /** SIGKILLs every node and removes the temp dir. */
  stop(): Promise<void>;
}

/** A node this helper started: what a restart needs. */
export interface NodeProcess {
  port: number;
  configFile: string;
  logFile: string;
  proc: ChildProcess;
}

export interface ClusterOptions {
  /** Redis Cluster needs at least 3. @defaultValue 3 */
  masters?: number;
  /** Replicas per master (0 or 1). @defaultValue 0 */
  replicas?: 0 | 1;
  /**
   * `cluster-node-timeout`: how long a master may be unreachable before its replica takes over.
   * Short, so a SIGKILL fails over in seconds; long enough that a loaded machine's pauses do not.
   * @defaultValue 2000
   */
  nodeTimeoutMs?: number;
}

/**
 * Starts the nodes, joins them with `redis-cli --cluster create`, and resolves once every node
 * reports `cluster_state:ok`, sees all 16384 slots served and (with replicas) every replica is in
 * sync with its master.
 */
export async function startRedisCluster(opts: ClusterOptions = {}): Promise<TestRedisCluster> {
  const masters = opts.masters ?? 3;
  const replicas = opts.replicas ?? 0;
  if (masters < 3) throw new Error(`startRedisCluster: masters must be at least 3 (got ${masters}); redis-cli refuses fewer`);
  if (replicas !== 0 && replicas !== 1) throw new Error(`startRedisCluster: replicas must be 0 or 1 (got ${String(replicas)})`);
  const dir = mkdtempSync(join(tmpdir(), 'fnrun-cluster-'));
  const nodes = new Map<number, NodeProcess>();
  const clients: Cluster[] = [];
  const stop = async () => {
    for (const c of clients) c.disconnect();
    await Promise.all([...nodes.values()].map((n) => killHard(n.proc)));
    rmSync(dir, { recursive: true, force: true });
  };

  const startNode = async (port: number) => {
    const nodeDir = join(dir, `node-${port}`);
    mkdirSync(nodeDir, { recursive: true });
    const configFile = join(nodeDir, 'redis.conf');
    const logFile = join(nodeDir, 'redis.log');
    writeFileSync(configFile, [
      `port ${port}`, 'bind 127.0.0.1', `dir "${nodeDir}"`, 'save ""', 'daemonize no',
      'loglevel notice', `logfile "${logFile}"`,
      'cluster-enabled yes', 'cluster-config-file nodes.conf', `cluster-node-timeout ${opts.nodeTimeoutMs ?? 2000}`,
      ...(replicas > 0
        ? [
          'appendonly yes', 'appendfsync always',
          // Full resyncs (first attach, a restarted master rejoining as a replica) start at once.
          'repl-diskless-sync-delay 0',
          // A replica may take over however long its link was down: the tests kill masters on purpose.
          'cluster-replica-validity-factor 0',
          // Each master keeps its own replica: no replica wanders to another master.
          'cluster-allow-replica-migration no',
        ]
        : ['appendonly no']),
      '',
    ].join('\n'));
    const node: NodeProcess = { port, configFile, logFile, proc: await spawnRedisServer([configFile], port, logFile) };
    nodes.set(port, node);
    return node;
  };

  try {
    const ports: number[] = [];
    for (let i = 0; i < masters * (1 + replicas); i++) ports.push(await freePort({ clusterBus: true }));
    // allSettled, not all: a failed start must not leave its siblings running unrecorded.
    const started = await Promise.allSettled(ports.map(startNode));
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;

    // redis-cli makes the first `masters` nodes masters and gives each a replica from the rest.
    await promisify(execFile)('redis-cli', [
      '--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes',
    ], { timeout: 30_000 });
    // redis-cli returns once the nodes agree on the config, but each node still answers
    // CLUSTERDOWN until its own view says every slot is served: wait for all of them.
    await waitFor(() => clusterSettled([...nodes.keys()], masters, replicas), {
      timeoutMs: 30_000, message: `cluster ${ports.join(',')} did not reach cluster_state:ok with every replica in sync`,
    });

    const nodesOf = () => readNodes([...nodes.keys()]);
    return {
      url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
      ports,
      client() {
        const c = new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })), {
          redisOptions: { maxRetriesPerRequest: null },
          retryDelayOnTryAgain: 100,
          retryDelayOnClusterDown: 200,
        });
        c.on('error', () => {});
        clients.push(c);
        return c as unknown as Redis;
      },
      nodes: nodesOf,
      keySlot: (key) => withAnyNode([...nodes.keys()], async (probe) => Number(await probe.cluster('KEYSLOT', key))),
      ...clusterFaults({
        nodes,
        readNodes: nodesOf,
        settled: () => clusterSettled([...nodes.keys()], masters, replicas),
        restart: async (node) => { node.proc = await spawnRedisServer([node.configFile], node.port, node.logFile); },
      }),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** `fn` on the first node of `ports` that answers. */
export async function withAnyNode<T>(ports: readonly number[], fn: (probe: Redis) => Promise<T>): Promise<T> {
  let lastError: unknown = new Error('no ports');
  for (const port of ports) {
    try {
      return await withProbe(port, fn);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

/** CLUSTER NODES of the first node that answers, parsed. */
async function readNodes(ports: readonly number[]): Promise<ClusterNode[]> {
  return withAnyNode(ports, async (probe) => parseNodes(String(await probe.cluster('NODES'))));
}

/** Parses `CLUSTER NODES`: `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot>…`. */
export function parseNodes(text: string): ClusterNode[] {
  return text.trim().split('\n').map((line) => {
    const [id, address, flags, master, , , , , ...slotFields] = line.trim().split(' ');
    const flagList = flags!.split(',');
    const slots = slotFields
      .filter((s) => !s.startsWith('[')) // [slot->-id] / [slot-<-id]: a migration in progress
      .map((s): [number, number] => {
        const [first, last] = s.split('-').map(Number);
        return [first!, last ?? first!];
      });
    return {
      id: id!,
      port: Number(/:(\d+)@/.exec(address!)?.[1]),
      role: flagList.includes('master') ? 'master' : 'replica',
      masterId: master === '-' ? null : master!,
      flags: flagList.filter((f) => f !== 'myself' && f !== 'master' && f !== 'slave'),
      slots,
    };
  });
}

/**
 * Every node answers, says `cluster_state:ok`, sees all slots served by masters and the same
 * master for every slot, knows every other node without failure flags; with replicas, every master
 * has one replica whose link is up.
 */
async function clusterSettled(ports: readonly number[], masters: number, replicas: number): Promise<boolean> {
  let reference: string | null = null;
  for (const port of ports) {
    const view = await withProbe(port, async (probe) => {
      const info = String(await probe.cluster('INFO'));
      if (!/^cluster_state:ok\r?$/m.test(info)) return null;
      const known = parseNodes(String(await probe.cluster('NODES')));
      if (known.length !== ports.length || known.some((n) => n.flags.length > 0)) return null;
      const ownedBy: string[] = [];
      let covered = 0;
      for (const n of known.filter((k) => k.role === 'master')) {
        for (const [first, last] of n.slots) { covered += last - first + 1; ownedBy.push(`${first}-${last}:${n.id}`); }
      }
      if (covered !== SLOTS) return null;
      if (replicas > 0) {
        const masterIds = known.filter((k) => k.role === 'master').map((k) => k.id);
        if (masterIds.length !== masters) return null;
        for (const id of masterIds) if (known.filter((k) => k.masterId === id).length !== replicas) return null;
        const [role, , , state] = (await probe.call('ROLE')) as [string, string, number, string];
        if (role === 'slave' && state !== 'connected') return null;
      }
      return ownedBy.sort().join(' ');
    }).catch(() => null);
    if (view === null) return false;
    if (reference !== null && view !== reference) return false;
    reference = view;
  }
  return true;
}
