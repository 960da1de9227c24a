/**
 * A runtime in its own process, for tests that kill it. Config comes as JSON in argv[2]; every
 * invocation outcome is appended to `recordFile` with a synchronous write, so what was recorded
 * before a SIGKILL is on disk.
 */
import { openSync, writeSync } from 'node:fs';
import { Runtime, createJsonLogger } from '../../runtime/index.ts';

const config = JSON.parse(process.argv[2] ?? '{}') as {
  redis: string; functionsDir: string; partitions: number; recordFile: string; batchSize?: number;
};
const fd = openSync(config.recordFile, 'a');
const runtime = await Runtime.create({
  redis: config.redis,
  partitions: config.partitions,
  functionsDir: config.functionsDir,
  batchSize: config.batchSize ?? 100,
  logger: createJsonLogger('error'),
  onInvocation: (r) => writeSync(fd, `${JSON.stringify({ fn: r.function, id: `${r.partition}/${r.eventId}`, key: r.key, status: r.status, attempt: r.attempt, pid: process.pid })}\n`),
});
await runtime.start();
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void runtime.stop().then(() => process.exit(0));
});
