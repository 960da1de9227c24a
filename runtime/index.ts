/**
 * fnrun's public API. Import from `fnrun` (this file); nothing else is public.
 */
export { Runtime, type RuntimeOptions, type LoadFailure } from './runtime.ts';
export { Publisher, type PublisherOptions, type PublishOptions, type PublishResult, type EventInput } from './publisher.ts';
export { DeadLetterQueue, REPLAY_OF_HEADER } from './dead-letters.ts';
export { Registry, type StoredVersion, type FunctionSummary, type DeployResult } from './registry.ts';
export { deployFunctions, type DeployOptions, type DeployRow } from './deployer.ts';
export type { OwnershipOptions } from './partition-ownership.ts';
export type { DeadLetter, DeadLetterReason } from './dead-letter-record.ts';
export type { InvocationRecord, FunctionHandle } from './function-handle.ts';
export { partitionFor } from './partitioner.ts';
export {
  getStatus, type StatusOptions, type Status, type MemberStatus, type PartitionStatus, type GroupStatus,
  type FunctionStatus, type PendingEntry, type StuckEvent,
} from './status.ts';
export { RateWindow, type Rates } from './rate-window.ts';
export { Keys } from './keys.ts';
export { DEFAULT_PARTITIONS } from './namespace.ts';
export { DEFAULT_MAX_EVENT_BYTES } from './wire.ts';
export { createJsonLogger, type Logger } from './logger.ts';
export {
  FnrunError, ManifestError, BundleError, ConfigError, SandboxError, PayloadTooLargeError, NotReplicatedError,
  PartitionsMismatchError, InvalidEventError, NotFoundError, type ErrorCode,
} from './errors.ts';
export type { FnEvent, Manifest, RetryPolicy, Emit, SerializedError } from './types.ts';
export { defineFunction, type Context, type Handler, type FunctionConfig, type FunctionDefinition } from './sdk.ts';
