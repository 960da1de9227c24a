/**
 * The chaos suite (engine: harness.ts). Short CI form by default (FNRUN_CHAOS_SECONDS=60, ≥ 5
 * faults, on a Cluster and on Sentinel, one after the other); `npm run test:chaos` is the long
 * local form (600 s, ≥ 20 faults each). Knobs: see chaosOptionsFromEnv in options.ts.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { chaosOptionsFromEnv, formatReport, runChaos } from './harness.ts';

// Cluster: 3 masters with a replica each; every Cluster fault (graceful failover, a SIGKILLed
// master, resharding) mixed with process kills and pauses. Sentinel: failovers and primary
// restarts. FNRUN_CHAOS_TOPOLOGY (one of single, sentinel, cluster, or a comma list) picks.
const topologies = (process.env.FNRUN_CHAOS_TOPOLOGY || 'cluster,sentinel').split(',').map((t) => t.trim());

for (const topology of topologies) {
  const opts = chaosOptionsFromEnv({ ...process.env, FNRUN_CHAOS_TOPOLOGY: topology });
  // Several runs write one report each: <name>.<topology>.json.
  const reportPath = opts.reportPath && topologies.length > 1 ? opts.reportPath.replace(/(\.json)?$/, `.${topology}$1`) : opts.reportPath;
  test(`chaos: ${opts.processes} fnrun start processes, ${opts.seconds} s of traffic at ${opts.rate} events/s with ≥ ${opts.minFaults} faults on ${opts.topology} Redis (seed ${opts.seed}): nothing lost, per-key order, duplicates only in fault windows, no dead letters`, {
    // Chaos phase, plus setup, the last fault's recovery, the drain (≤ 120 s) and the shutdown.
    timeout: (opts.seconds + 360) * 1000,
  }, async () => {
    const report = await runChaos(opts);
    const text = formatReport(report);
    process.stderr.write(`${text}\n`);
    if (reportPath) writeFileSync(reportPath, `${JSON.stringify(report, null, 2)}\n`);
    assert.ok(report.ok, `chaos run failed (seed ${report.seed}):\n${report.failures.join('\n')}`);
  });
}
