/**
 * The faults of a Redis Cluster with replicas, as the test helper injects them: a graceful
 * `CLUSTER FAILOVER`, a SIGKILLed master (its replica takes over; the killed node is restarted and
 * rejoins as a replica), and live resharding: moving a slot to another master while clients use
 * it, by hand (`SETSLOT IMPORTING/MIGRATING`, `MIGRATE … KEYS`, `SETSLOT NODE`) so that the test
 * picks the slot (redis-cli's `--cluster reshard` picks slots itself) and can stop half-way.
 * Each resolves once the cluster has settled again (see clusterSettled in redis-cluster.ts).
 */
import type { ClusterNode, NodeProcess } from './redis-cluster.ts';
import { infoField, killHard, withProbe } from './redis-process.ts';
import { waitFor } from './wait-for.ts';

/** Keys per MIGRATE: a partition's slot holds thousands of dedupe keys at the chaos suite's rates. */
const MIGRATE_BATCH = 1000;
const MIGRATE_TIMEOUT_MS = 10_000;
const SETTLE_TIMEOUT_MS = 60_000;

export interface ClusterFaults {
  /**
   * `CLUSTER FAILOVER` on the replica of the master on `masterPort` (default: the first master):
   * the master stops accepting writes, the replica catches up and takes over, the old master
   * becomes its replica. Nothing acknowledged is lost.
   */
  failover(masterPort?: number): Promise<{ from: number; to: number }>;
  /**
   * SIGKILLs the master on `masterPort` (its AOF stays); waits until its replica has taken over
   * (after `cluster-node-timeout`); restarts the killed node, which rejoins as the new master's
   * replica. Writes the replica had not received when the master died are lost: `behindBytes` is
   * how far the replica's replication offset was behind the master's just before the kill.
   */
  killMaster(masterPort?: number): Promise<{ killed: number; promoted: number; behindBytes: number }>;
  /**
   * Moves `slot` to the master on `toPort` while traffic flows (see {@link SlotMigration}); a slot
   * it already serves is left alone. Returns how many keys moved.
   */
  moveSlot(slot: number, toPort: number): Promise<{ from: number; keys: number }>;
  /** Starts moving `slot` to the master on `toPort`, for tests that stop half-way. */
  beginMigration(slot: number, toPort: number): Promise<SlotMigration>;
}

/**
 * A slot migration under way: the source answers ASK for keys it no longer has and TRYAGAIN for
 * multi-key commands over keys of which only some are still there; the target serves ASKING
 * clients. Until {@link finish}, nothing is final.
 */
export interface SlotMigration {
  readonly slot: number;
  readonly from: number;
  readonly to: number;
  /** The slot's keys still on the source (at most 10,000). */
  remaining(): Promise<string[]>;
  /** MIGRATEs `keys` (default: every key still on the source, in batches); returns how many moved. */
  migrate(keys?: readonly string[]): Promise<number>;
  /** Migrates what is left, then gives the slot to the target on every master and waits until the cluster agrees. */
  finish(): Promise<number>;
}

interface Deps {
  nodes: Map<number, NodeProcess>;
  readNodes(): Promise<ClusterNode[]>;
  settled(): Promise<boolean>;
  restart(node: NodeProcess): Promise<void>;
}

export function clusterFaults(deps: Deps): ClusterFaults {
  const awaitSettled = (what: string) => waitFor(deps.settled, { timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 100, message: `the cluster did not settle after ${what}` });

  const masterOn = async (port: number | undefined): Promise<{ master: ClusterNode; replica: ClusterNode; all: ClusterNode[] }> => {
    const all = await deps.readNodes();
    const masters = all.filter((n) => n.role === 'master').sort((a, b) => a.port - b.port);
    const master = port === undefined ? masters[0] : masters.find((n) => n.port === port);
    if (master === undefined) throw new Error(`no master on port ${String(port)} (masters: ${masters.map((m) => m.port).join(', ')})`);
    const replica = all.find((n) => n.masterId === master.id);
    if (replica === undefined) throw new Error(`master ${master.port} has no replica: start the cluster with replicas: 1`);
    return { master, replica, all };
  };

  const roleOf = (port: number) => withProbe(port, async (probe) => (await probe.call('ROLE')) as [string, ...unknown[]]);

  const beginMigration = async (slot: number, toPort: number): Promise<SlotMigration> => {
    const all = await deps.readNodes();
    const source = all.find((n) => n.role === 'master' && n.slots.some(([a, b]) => slot >= a && slot <= b));
    const target = all.find((n) => n.role === 'master' && n.port === toPort);
    if (source === undefined || target === undefined) throw new Error(`slot ${slot}: no serving master, or no master on port ${toPort}`);
    if (source.id === target.id) throw new Error(`slot ${slot} is already on ${toPort}`);
    await withProbe(target.port, (p) => p.cluster('SETSLOT', slot, 'IMPORTING', source.id));
    await withProbe(source.port, (p) => p.cluster('SETSLOT', slot, 'MIGRATING', target.id));
    const remaining = () => withProbe(source.port, async (p) => (await p.cluster('GETKEYSINSLOT', slot, 10_000)) as string[]);
    const migrate = async (keys?: readonly string[]): Promise<number> => {
      let moved = 0;
      for (;;) {
        const batch = keys ? [...keys] : await withProbe(source.port, async (p) => (await p.cluster('GETKEYSINSLOT', slot, MIGRATE_BATCH)) as string[]);
        if (batch.length === 0) return moved;
        for (let i = 0; i < batch.length; i += MIGRATE_BATCH) {
          const chunk = batch.slice(i, i + MIGRATE_BATCH);
          // No REPLACE: a key on both sides would be a bug to report, not to paper over.
          const reply = await withProbe(source.port, (p) => p.call('MIGRATE', '127.0.0.1', target.port, '', 0, MIGRATE_TIMEOUT_MS, 'KEYS', ...chunk));
          if (reply !== 'OK' && reply !== 'NOKEY') throw new Error(`MIGRATE of slot ${slot} answered ${String(reply)}`);
          moved += chunk.length;
        }
        if (keys) return moved;
      }
    };
    return {
      slot, from: source.port, to: target.port, remaining, migrate,
      async finish() {
        const moved = await migrate();
        // Target first (it must own the slot before the source stops redirecting with ASK), then
        // the source, then the other masters, so that none of them redirects to the old owner.
        await withProbe(target.port, (p) => p.cluster('SETSLOT', slot, 'NODE', target.id));
        await withProbe(source.port, (p) => p.cluster('SETSLOT', slot, 'NODE', target.id));
        for (const other of all.filter((n) => n.role === 'master' && n.id !== source.id && n.id !== target.id)) {
          await withProbe(other.port, (p) => p.cluster('SETSLOT', slot, 'NODE', target.id));
        }
        await awaitSettled(`moving slot ${slot} to ${target.port}`);
        return moved;
      },
    };
  };

  return {
    async failover(masterPort) {
      const { master, replica } = await masterOn(masterPort);
      // A manual failover waits for the replica to reach the master's offset; it gives up after
      // 5 s (CLUSTER_MF_TIMEOUT) on a busy master: ask again until the roles have swapped.
      await waitFor(async () => {
        const [role] = await roleOf(replica.port);
        if (role === 'master') return true;
        await withProbe(replica.port, (p) => p.cluster('FAILOVER'));
        await waitFor(async () => (await roleOf(replica.port))[0] === 'master', { timeoutMs: 6000, intervalMs: 50 }).catch(() => false);
        return (await roleOf(replica.port))[0] === 'master';
      }, { timeoutMs: 30_000, message: `CLUSTER FAILOVER of ${master.port} to ${replica.port} did not happen` });
      await awaitSettled(`CLUSTER FAILOVER of ${master.port} to ${replica.port}`);
      return { from: master.port, to: replica.port };
    },

    async killMaster(masterPort) {
      const { master, replica } = await masterOn(masterPort);
      const node = deps.nodes.get(master.port);
      if (node === undefined) throw new Error(`master ${master.port} was not started by this helper`);
      const offset = (port: number, field: string) => infoField(port, 'replication', field).then(Number);
      const [masterOffset, replicaOffset] = await Promise.all([offset(master.port, 'master_repl_offset'), offset(replica.port, 'slave_repl_offset')]);
      await killHard(node.proc);
      await waitFor(async () => (await roleOf(replica.port))[0] === 'master', {
        timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 100, message: `replica ${replica.port} did not take over from the killed master ${master.port}`,
      });
      await deps.restart(node);
      await awaitSettled(`the killed master ${master.port} rejoining as a replica of ${replica.port}`);
      const [role, , port] = await roleOf(master.port);
      if (role !== 'slave' || port !== replica.port) throw new Error(`the restarted ${master.port} is ${role} (of ${String(port)}), expected a replica of ${replica.port}`);
      return { killed: master.port, promoted: replica.port, behindBytes: Math.max(0, masterOffset - replicaOffset) };
    },

    async moveSlot(slot, toPort) {
      const owner = (await deps.readNodes()).find((n) => n.role === 'master' && n.slots.some(([a, b]) => slot >= a && slot <= b));
      if (owner?.port === toPort) return { from: toPort, keys: 0 };
      const migration = await beginMigration(slot, toPort);
      return { from: migration.from, keys: await migration.finish() };
    },

    beginMigration,
  };
}
