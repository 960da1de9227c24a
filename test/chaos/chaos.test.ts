/**
 * The chaos suite (engine: harness.ts). Short CI form by default (FNRUN_CHAOS_SECONDS=60, ≥ 5
 * faults); `npm run test:chaos` is the long local form (600 s, ≥ 20 faults). Knobs: see
 * chaosOptionsFromEnv in harness.ts.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { chaosOptionsFromEnv, formatReport, runChaos } from './harness.ts';

// Sentinel: every fault kind, failovers included. FNRUN_CHAOS_TOPOLOGY=single runs the same
// without failovers against one redis-server.
const DEFAULT_TOPOLOGY = 'sentinel';
const opts = chaosOptionsFromEnv(process.env, DEFAULT_TOPOLOGY);

test(`chaos: ${opts.processes} fnrun start processes, ${opts.seconds} s of traffic with ≥ ${opts.minFaults} faults on ${opts.topology} Redis (seed ${opts.seed}): nothing lost, per-key order, duplicates only in fault windows, no dead letters`, {
  // Chaos phase, plus setup, the last fault's recovery, the drain (≤ 120 s) and the shutdown.
  timeout: (opts.seconds + 360) * 1000,
}, async () => {
  const report = await runChaos(opts);
  const text = formatReport(report);
  process.stderr.write(`${text}\n`);
  if (opts.reportPath) writeFileSync(opts.reportPath, `${JSON.stringify(report, null, 2)}\n`);
  assert.ok(report.ok, `chaos run failed (seed ${report.seed}):\n${report.failures.join('\n')}`);
});
