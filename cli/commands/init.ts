/**
 * `fnrun init [DIR]`: a project folder with one example function and a README snippet.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../runtime/errors.ts';
import { parseCommand } from '../options.ts';
import { fsUserError, makeDirectories } from '../fs-errors.ts';
import type { Output } from '../output.ts';

export const HELP = `Usage: fnrun init [DIR]

Creates DIR (default: the current folder) with functions/hello.ts, a README.md snippet and a
.gitignore for .fnrun/ (the embedded Redis data). Existing files are never overwritten.`;

const HELLO = `import { defineFunction } from 'fnrun';

/** Runs for every \`hello.*\` event; try: fnrun emit hello.world --key me --data '{"name":"Ada"}' */
export default defineFunction<{ name?: string }>({
  events: ['hello.*'],
  retry: { attempts: 3, initialDelayMs: 200 },
  async handler(event, ctx) {
    ctx.log.info(\`hello, \${event.data.name ?? 'world'} (key \${event.key}, attempt \${ctx.attempt})\`);
    await ctx.emit('hello.greeted', event.key, { name: event.data.name ?? 'world' });
  },
});
`;

const README = `# Functions run by fnrun

Each file in \`functions/\` is a function: its manifest (\`events\`, \`retry\`, …) and its handler.

    npx fnrun dev                                       # run them, reload on save
    npx fnrun emit hello.world --key me --data '{"name":"Ada"}'
    npx fnrun dlq list                                  # events that failed every attempt
`;

export async function run(argv: string[], out: Output): Promise<number> {
  const { common, positionals } = parseCommand(argv, {});
  out.json = common.json;
  if (common.help) return out.help(HELP);
  if (positionals.length > 1) throw new ConfigError('usage: fnrun init [DIR]');
  const dir = path.resolve(positionals[0] ?? '.');
  const files: [string, string][] = [
    [path.join(dir, 'functions', 'hello.ts'), HELLO],
    [path.join(dir, 'README.md'), README],
    [path.join(dir, '.gitignore'), '.fnrun/\nnode_modules/\n'],
  ];
  const existing = files.filter(([file]) => existsSync(file)).map(([file]) => path.relative(process.cwd(), file) || file);
  if (existing.length > 0) throw new ConfigError(`not overwriting ${existing.join(', ')}; remove them or pick another folder`);
  makeDirectories(path.join(dir, 'functions'));
  for (const [file, text] of files) {
    try {
      writeFileSync(file, text, { flag: 'wx' });
    } catch (error) {
      throw fsUserError(error, 'write', file);
    }
  }
  out.result({ dir, files: files.map(([f]) => f) }, `created ${files.map(([f]) => path.relative(process.cwd(), f) || f).join(', ')}\nnext: cd ${path.relative(process.cwd(), dir) || '.'} && npx fnrun dev`);
  return 0;
}
