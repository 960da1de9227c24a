/**
 * A private Sentinel setup per test file: a primary, one replica and three sentinels on loopback
 * TCP, killed at the end. Both data nodes write an fsync-always AOF, so a SIGKILLed node comes back
 * with every acknowledged write: the chaos tests rely on that.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, infoField, killHard, spawnRedisServer, withProbe } from './redis-process.ts';
import { waitFor } from './wait-for.ts';

export interface TestRedisSentinel {
  /** `redis+sentinel://127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3/<masterName>` */
  url: string;
  masterName: string;
  /** Port of the current primary as the sentinels report it (the answer most of them give). */
  primaryPort(): Promise<number>;
  /** A client straight to the current primary (not through the sentinels); closed by stop(). */
  primaryClient(): Promise<Redis>;
  /**
   * SENTINEL FAILOVER, then waits until all three sentinels agree on the new primary, it answers
   * ROLE as master and accepts a write, and the old primary reports itself a connected replica of it.
   */
  failover(): Promise<{ from: number; to: number }>;
  /**
   * SIGKILLs the current primary's redis-server and starts it again on the same port, config and
   * data dir (the AOF survives). Resolves once it answers PING; quick enough that the sentinels
   * (down-after 1 s) do not fail over.
   */
  restartPrimary(): Promise<void>;
  /** SIGKILLs the sentinels, then the data nodes, and removes the temp dir. */
  stop(): Promise<void>;
}

interface Node {
  port: number;
  /** Sentinel rewrites it (CONFIG REWRITE) when it changes the node's role, so a restart keeps the role. */
  configFile: string;
  logFile: string;
  proc: ChildProcess;
}

/**
 * Starts the primary, its replica and three sentinels, and resolves once every sentinel knows the
 * replica and the two other sentinels (before that, SENTINEL FAILOVER answers NOGOODSLAVE).
 * @param opts.masterName - the name the sentinels monitor. @defaultValue 'fnrun'
 */
export async function startRedisSentinel(opts: { masterName?: string } = {}): Promise<TestRedisSentinel> {
  const masterName = opts.masterName ?? 'fnrun';
  const dir = mkdtempSync(join(tmpdir(), 'fnrun-sentinel-'));
  // By port, not by role: the roles swap on failover, the processes and ports do not.
  const nodes = new Map<number, Node>();
  const sentinels: { port: number; proc: ChildProcess; conn: Redis }[] = [];
  const clients: Redis[] = [];
  const stop = async () => {
    for (const c of clients) c.disconnect();
    for (const s of sentinels) s.conn.disconnect();
    // Sentinels first, so they do not react to the data nodes going away.
    await Promise.all(sentinels.map((s) => killHard(s.proc)));
    await Promise.all([...nodes.values()].map((n) => killHard(n.proc)));
    rmSync(dir, { recursive: true, force: true });
  };

  const startNode = async (port: number, replicaOf?: number) => {
    const nodeDir = join(dir, `node-${port}`);
    mkdirSync(nodeDir);
    const configFile = join(nodeDir, 'redis.conf');
    const logFile = join(nodeDir, 'redis.log');
    writeFileSync(configFile, [
      `port ${port}`, 'bind 127.0.0.1', `dir "${nodeDir}"`, 'save ""',
      'appendonly yes', 'appendfsync always', 'daemonize no', 'loglevel warning', `logfile "${logFile}"`,
      // Full resyncs (first attach, after a restart or a failover) start at once, not after 5 s.
      'repl-diskless-sync-delay 0',
      ...(replicaOf ? [`replicaof 127.0.0.1 ${replicaOf}`] : []),
      '',
    ].join('\n'));
    nodes.set(port, { port, configFile, logFile, proc: await spawnRedisServer([configFile], port, logFile) });
  };

  const startSentinel = async (primary: number) => {
    const port = await freePort();
    const configFile = join(dir, `sentinel-${port}.conf`);
    const logFile = join(dir, `sentinel-${port}.log`);
    writeFileSync(configFile, [
      `port ${port}`, 'bind 127.0.0.1', `dir "${dir}"`, 'daemonize no', 'loglevel notice', `logfile "${logFile}"`,
      `sentinel monitor ${masterName} 127.0.0.1 ${primary} 2`,
      `sentinel down-after-milliseconds ${masterName} 1000`,
      `sentinel failover-timeout ${masterName} 5000`,
      `sentinel parallel-syncs ${masterName} 1`,
      '',
    ].join('\n'));
    const proc = await spawnRedisServer([configFile, '--sentinel'], port, logFile);
    const conn = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
    conn.on('error', () => {});
    sentinels.push({ port, proc, conn });
  };

  const askSentinel = async (conn: Redis): Promise<number> => {
    const [, port] = (await conn.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName)) as [string, string];
    return Number(port);
  };

  const primaryPort = async () => {
    const votes = new Map<number, number>();
    for (const s of sentinels) {
      const port = await askSentinel(s.conn).catch(() => null);
      if (port !== null) votes.set(port, (votes.get(port) ?? 0) + 1);
    }
    const [best] = [...votes].sort((a, b) => b[1] - a[1]);
    if (!best) throw new Error(`no sentinel answered for ${masterName}`);
    return best[0];
  };

  try {
    const primary = await freePort();
    const replica = await freePort();
    await startNode(primary);
    await startNode(replica, primary);
    // A sentinel learns replicas from the primary's INFO, which it refreshes only every 10 s: the
    // replica must be attached before the sentinels first ask.
    await waitFor(async () => (await infoField(replica, 'replication', 'master_link_status')) === 'up',
      { timeoutMs: 10_000, message: `replica ${replica} did not sync from ${primary}` });
    for (let i = 0; i < 3; i++) await startSentinel(primary);
    // Sentinels find each other through hello messages on the primary, every 2 s.
    await waitFor(async () => {
      for (const s of sentinels) {
        const replicas = parseEntries(await s.conn.call('SENTINEL', 'REPLICAS', masterName));
        const peers = parseEntries(await s.conn.call('SENTINEL', 'SENTINELS', masterName));
        if (!replicas.some((r) => r.port === String(replica) && r.flags === 'slave')) return false;
        if (peers.length !== sentinels.length - 1) return false;
      }
      return true;
    }, { timeoutMs: 15_000, message: 'sentinels did not discover the replica and each other' });
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    url: `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${masterName}`,
    masterName,
    primaryPort,
    async primaryClient() {
      const c = new Redis({ host: '127.0.0.1', port: await primaryPort(), maxRetriesPerRequest: null });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
    async failover() {
      const from = await primaryPort();
      const [first] = sentinels;
      if (!first) throw new Error('no sentinels');
      // Refused (NOGOODSLAVE) while the replica is resyncing, e.g. just after restartPrimary().
      await waitFor(async () => (await first.conn.call('SENTINEL', 'FAILOVER', masterName)) === 'OK',
        { timeoutMs: 10_000, message: `SENTINEL FAILOVER ${masterName} was refused` });
      const to = [...nodes.keys()].find((port) => port !== from);
      if (to === undefined) throw new Error(`no replica of ${from} to fail over to`);
      await waitFor(async () => {
        for (const s of sentinels) if ((await askSentinel(s.conn)) !== to) return false;
        return true;
      }, { timeoutMs: 15_000, message: `sentinels did not all switch ${masterName} from ${from} to ${to}` });
      await waitFor(async () => withProbe(to, async (probe) => {
        const [role] = (await probe.call('ROLE')) as [string];
        // DEL is a write (a replica refuses it with READONLY) that leaves no data behind.
        return role === 'master' && (await probe.del('fnrun:test:failover-probe')) >= 0;
      }), { timeoutMs: 10_000, message: `${to} did not become a writable primary` });
      // Sentinel demotes the old primary itself (+convert-to-slave) only once it has reported
      // itself master for failover-timeout (5 s) and a replica INFO refresh (every 10 s) saw it:
      // about 10 s. Send what that sentinel would send (REPLICAOF, CONFIG REWRITE so a restart
      // keeps the role, CLIENT KILL so clients reconnect) now; the end state is the same.
      await withProbe(from, (probe) => probe.multi()
        .call('REPLICAOF', '127.0.0.1', String(to))
        .call('CONFIG', 'REWRITE')
        .call('CLIENT', 'KILL', 'TYPE', 'normal')
        .exec());
      await waitFor(async () => withProbe(from, async (probe) => {
        const [role, , port, state] = (await probe.call('ROLE')) as [string, string, number, string];
        return role === 'slave' && port === to && state === 'connected';
      }), { timeoutMs: 10_000, message: `old primary ${from} did not become a replica of ${to}` });
      return { from, to };
    },
    async restartPrimary() {
      const node = nodes.get(await primaryPort());
      if (!node) throw new Error('the sentinels report a primary this helper did not start');
      await killHard(node.proc);
      node.proc = await spawnRedisServer([node.configFile], node.port, node.logFile);
    },
    stop,
  };
}

/** SENTINEL REPLICAS / SENTINELS answer a list of flat [key, value, key, value, …] arrays. */
function parseEntries(reply: unknown): Record<string, string>[] {
  return (reply as string[][]).map((flat) => {
    const entry: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) entry[flat[i]!] = flat[i + 1]!;
    return entry;
  });
}
