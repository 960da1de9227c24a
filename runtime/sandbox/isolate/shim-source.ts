/**
 * The shim as the child compiles it into each isolate: the bootstrap and every helper it is given,
 * as their own source text (`Function.prototype.toString()`), so that what runs inside V8 is the
 * type-checked code of shim.ts and the shim-*.ts files, with nothing bundled in between.
 */
import { installAbort } from './shim-abort.ts';
import { createFormatter } from './shim-console.ts';
import { installContext } from './shim-context.ts';
import { installEncoding } from './shim-encoding.ts';
import { installFetch } from './shim-fetch.ts';
import { installHeaders } from './shim-headers.ts';
import { createModuleReader } from './shim-module.ts';
import { createFetchBridge, createOps } from './shim-ops.ts';
import { createOutput } from './shim-output.ts';
import { createResultJson } from './shim-result.ts';
import { createState } from './shim-state.ts';
import { installRequestResponse } from './shim-request-response.ts';
import { installTimers } from './shim-timers.ts';
import { installUrl } from './shim-url.ts';
import { installWeb } from './shim-web.ts';
import { bootstrap } from './shim.ts';

/**
 * The script compiled into each isolate; its completion value is a function taking the host
 * bridge as positional arguments (isolated-vm transfers Callbacks and References one by one).
 */
export const SHIM_SOURCE = `(function (report, opStart, opCancel, progress, urlOp, randomBytes, functionName, envJson, limitsJson) {
'use strict';
const lib = {
  createFormatter: ${createFormatter.toString()},
  createOutput: ${createOutput.toString()},
  createState: ${createState.toString()},
  createResultJson: ${createResultJson.toString()},
  createModuleReader: ${createModuleReader.toString()},
  createOps: ${createOps.toString()},
  createFetchBridge: ${createFetchBridge.toString()},
  installContext: ${installContext.toString()},
  installEncoding: ${installEncoding.toString()},
  installUrl: ${installUrl.toString()},
  installWeb: ${installWeb.toString()},
  installTimers: ${installTimers.toString()},
  installAbort: ${installAbort.toString()},
  installHeaders: ${installHeaders.toString()},
  installRequestResponse: ${installRequestResponse.toString()},
  installFetch: ${installFetch.toString()},
};
return (${bootstrap.toString()})({ report, opStart, opCancel, progress: new Float64Array(progress), urlOp, randomBytes, functionName, envJson, limitsJson }, lib);
})`;
