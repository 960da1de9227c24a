/**
 * `npm run bench`: runs every benchmark in one process on this machine and writes BENCHMARKS.md.
 * Each scenario reports a ratio against a baseline measured in the same run.
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { benchReload } from './reload.ts';
import { benchThroughput } from './throughput.ts';
import { table, type BenchResult } from './stats.ts';

const sections: { title: string; rows: BenchResult[] }[] = [];
process.stderr.write('bench: throughput (median of 3)…\n');
sections.push({ title: 'Throughput over a backlog (median of 3 runs, same redis-server)', rows: await benchThroughput() });
process.stderr.write('bench: dev reload…\n');
sections.push({ title: 'Dev reload (save → new code live)', rows: await benchReload() });

const machine = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const body = [
  '# Benchmarks',
  '',
  `Produced by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}; ${machine}.`,
  'Numbers from one run; the machine is shared and noisy (±30% between runs is normal).',
  '',
  ...sections.flatMap((s) => [`## ${s.title}`, '', table(s.rows), '']),
].join('\n');
writeFileSync(new URL('../BENCHMARKS.md', import.meta.url), body);
process.stdout.write(`${body}\n`);
