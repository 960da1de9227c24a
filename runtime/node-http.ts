/**
 * node:http and node:https, taken with `process.getBuiltinModule` rather than `import`: importing
 * them as ES modules builds their ESM facade, which reads every export, and the lazy
 * `WebSocket`/`fetch` exports load Node's bundled undici — a client fnrun never uses. Measured on
 * the 2-core machine: 80 ms of the sandbox process's 330 ms start-up, and about 35 ms of every
 * process that imports fnrun.
 */
export const http = process.getBuiltinModule('node:http');
export const https = process.getBuiltinModule('node:https');
