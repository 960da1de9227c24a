#!/usr/bin/env node
/**
 * The `fnrun` command: one thin module per subcommand in cli/commands/.
 * User errors (bad flags, bad input, bad manifests) print as one line and exit 1; anything else
 * is a bug and prints its stack (exit 70).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isExpectedError, PACKAGE_ROOT } from '../runtime/internal.ts';
import { formatExpectedError } from './error-message.ts';
import { escapeControl, escapeControlLines } from './escape.ts';
import { Output } from './output.ts';

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(argv: string[], out: Output): Promise<number> }> }> = {
  init: { summary: 'scaffold a project folder with an example function', load: () => import('./commands/init.ts') },
  dev: { summary: 'run ./functions with hot reload (embedded Redis when none is given)', load: () => import('./commands/dev.ts') },
  start: { summary: 'run the deployed functions, sharing partitions with other processes', load: () => import('./commands/start.ts') },
  emit: { summary: 'publish an event, or a file of events', load: () => import('./commands/emit.ts') },
  status: { summary: 'partitions, owners, per-function lag, pending, retries, dead letters', load: () => import('./commands/status.ts') },
  replay: { summary: 're-run one function over a window of retained events', load: () => import('./commands/replay.ts') },
  tail: { summary: 'follow the invocations of every process as they happen', load: () => import('./commands/tail.ts') },
  dlq: { summary: 'list, show, replay or purge dead letters', load: () => import('./commands/dlq.ts') },
  check: { summary: 'type-check the functions with the project\'s TypeScript', load: () => import('./commands/check.ts') },
  deploy: { summary: 'bundle, validate and upload the changed functions to the registry', load: () => import('./commands/deploy.ts') },
  functions: { summary: 'list the deployed functions and their versions', load: () => import('./commands/functions.ts') },
  rollback: { summary: 'make an earlier version of a deployed function active again', load: () => import('./commands/rollback.ts') },
  rm: { summary: 'remove a deployed function (with --yes)', load: () => import('./commands/rm.ts') },
  state: { summary: 'get, set or delete a function\'s per-key state', load: () => import('./commands/state.ts') },
};

const HELP = `Usage: fnrun <command> [options]

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`).join('\n')}

Run fnrun <command> --help for a command's options.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (name === '--version' || name === '-v') {
    const pkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`fnrun: unknown command "${escapeControl(name)}"\n\n${HELP}\n`);
    return 1;
  }
  return (await command.load()).run(rest, new Output());
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (isExpectedError(error)) {
    process.stderr.write(`fnrun: ${formatExpectedError(error)}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`fnrun: internal error (please report it):\n${escapeControlLines((error as Error)?.stack ?? String(error))}\n`);
    process.exitCode = 70;
  }
}
