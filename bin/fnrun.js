#!/usr/bin/env node
// The `fnrun` command. Plain JavaScript that any Node since 12 runs, so that an older Node gets one
// line saying what to do instead of a stack (fnrun itself needs Node 24: isolated-vm 7).
import { existsSync } from 'fs';

const found = process.versions.node;
if (Number(found.split('.')[0]) < 24) {
  process.stderr.write(`fnrun needs Node.js 24 or newer (for isolated-vm 7) but runs on Node ${found}: add it to your project with \`npm i -D node@24\` (npm scripts and npx then run fnrun on it) or install Node 24 from https://nodejs.org\n`);
  process.exit(1);
}

// In the repository the TypeScript sources run as they are; the published package has only dist/.
const source = new URL('../cli/fnrun.ts', import.meta.url);
import(existsSync(source) ? source.href : new URL('../dist/cli/fnrun.js', import.meta.url).href);
