// npm runs scripts with node_modules/.bin first on PATH, so `node` here is the `node` devDependency.
// If this fails, the machine's own Node is being used: run through npm (`npm test`), not `node` directly.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(`fnrun needs Node >= 24 (isolated-vm 7); this is ${process.version}. Run \`npm ci\` then \`npm test\`: npm puts the bundled Node 24 on PATH.`);
  process.exit(1);
}
