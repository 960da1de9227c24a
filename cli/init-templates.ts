/**
 * What `fnrun init` writes. The example function reacts to one event type and emits another that
 * nothing in the project subscribes to: a template must never trigger itself.
 */

/** The event the example handles, and the command that sends one (printed by init and the README). */
export const EXAMPLE_EVENT = 'greeting.requested';
export const EXAMPLE_EMIT = `npx fnrun emit ${EXAMPLE_EVENT} --key ada --data '{"name":"Ada"}'`;

export const HELLO = `import { defineFunction } from 'fnrun';

/**
 * Runs for every \`${EXAMPLE_EVENT}\` event. With \`npm run dev\` running, send one:
 *   ${EXAMPLE_EMIT}
 */
export default defineFunction<{ name?: string }>({
  events: ['${EXAMPLE_EVENT}'],
  retry: { attempts: 3 },
  async handler(event, ctx) {
    const name = event.data.name ?? 'world';
    ctx.log.info(\`hello, \${name} (key \${event.key}, attempt \${ctx.attempt})\`);
    // Published when this invocation succeeds. No function here listens to greeting.sent: a
    // function that emitted an event it subscribes to would run forever.
    await ctx.emit('greeting.sent', event.key, { name });
  },
});
`;

/**
 * Compiler options for function code: checked, never emitted (esbuild bundles it, hence
 * \`module: preserve\`), the sandbox's globals instead of Node's or the DOM's.
 */
const COMPILER_OPTIONS = {
  target: 'es2023',
  module: 'preserve',
  lib: ['es2024'],
  types: ['fnrun/globals'],
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  isolatedModules: true,
  verbatimModuleSyntax: true,
};

/** tsconfig.json for the functions: at the project root (`include` "functions"), or inside functions/. */
export function tsconfig(include: string): string {
  return `${JSON.stringify({ compilerOptions: COMPILER_OPTIONS, include: [include] }, null, 2)}\n`;
}

export const GITIGNORE_LINES = ['node_modules/', '.fnrun/'];

export function readme(name: string): string {
  return `# ${name}

Functions run by fnrun: each file in \`functions/\` is one function, its manifest (\`events\`,
\`retry\`, …) and its handler. \`fnrun\` needs Node 24; the \`node\` dev dependency brings it to npm
scripts and \`npx\` on machines whose own Node is older.

    npm run dev                       # run them (embedded Redis), reload on save
    ${EXAMPLE_EMIT}
    npm run typecheck                 # type errors (fnrun dev warns, fnrun deploy refuses)
    npm run deploy -- --redis redis://HOST:6379
    node_modules/.bin/fnrun start --redis redis://HOST:6379   # production: runs what is deployed
`;
}
