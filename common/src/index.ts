// @imgc/common's public surface, by name: what the services, the CLI, the tests and the scripts use. Anything
// not listed is internal to common/src. (The CLI imports "@imgc/common/failover-transport" alone, which keeps
// grpc-js, NATS and S3 out of its bundle.)
export { brief, quoted } from "./brief.js";
export {
  addresses,
  bool,
  ConfigError,
  type ConfigOf,
  int,
  loadConfig,
  logFields,
  natsFields,
  s3Fields,
  someOf,
  str,
  topologyFields,
} from "./config.js";
export { createFailoverTransport, LEADER_HEADER, leaderHint, parseAddresses } from "./failover-transport.js";
export {
  createGrpcJsClient,
  type GrpcJsClient,
  grpcImplementation,
  grpcServiceDefinition,
  MAX_MESSAGE_BYTES,
} from "./grpc.js";
export {
  checkReadiness,
  grpcHealthProbe,
  type HealthServer,
  natsReadiness,
  type ReadinessCheck,
  startHealthServer,
} from "./health-http.js";
export { imageSignature, READABLE_FORMATS, SIGNATURE_BYTES } from "./image-signature.js";
export {
  bearerOf,
  createTokenVerifier,
  generateSigningKeys,
  type MintOptions,
  mintToken,
  ROLES,
  type Role,
  type TokenClaims,
  TokenError,
  type TokenVerifier,
} from "./internal-auth.js";
export {
  callerFields,
  loadMetricsToken,
  loadToken,
  loadVerifier,
  metricsFields,
  verifierFields,
} from "./internal-config.js";
export { AUTHORIZATION, internalBearer, internalGrpcOptions } from "./internal-credentials.js";
export { connectTls, grpcChannelCredentials, grpcServerCredentials, loadTls, type TlsFiles } from "./internal-tls.js";
export { createLogger, type Logger } from "./logger.js";
export { Counter, createItemMetrics, createMetricsRegistry, Gauge, Histogram, Registry } from "./metrics.js";
export {
  BROADCAST_SUBJECT,
  CHUNKS_BUCKET,
  capabilitiesOf,
  connectNats,
  controlSubject,
  decodeMessage,
  defaultTopology,
  EVENTS_STREAM,
  encodeMessage,
  ensureTopology,
  eventSubject,
  JOBS_BUCKET,
  LANES,
  type LaneName,
  laneOf,
  openWorkerTopology,
  RESULTS_BUCKET,
  TASK_KINDS,
  TASKS_STREAM,
  type TaskKindName,
  type Topology,
  taskConsumer,
  taskKindOf,
  taskSubject,
  WORKERS_BUCKET,
} from "./nats.js";
export { type NatsAuthOptions, natsAuthOptions } from "./nats-connect.js";
export { pool } from "./pool.js";
export { createReflection } from "./reflection.js";
export { isReflectionService, reflectionRoutes } from "./reflection-service.js";
export { AbortedError, type RetryOptions, retry, sleep } from "./retry.js";
export { codeLabel, createRpcMetrics, type RpcMetrics } from "./rpc-metrics.js";
export { runMain, type Service } from "./run-main.js";
export {
  classifyStorageError,
  createStorage,
  declaredSize,
  keys,
  MAX_KEY_BYTES,
  type ObjectInfo,
  readAll,
  type Storage,
  StorageError,
  TooLargeError,
} from "./storage.js";
export {
  childSpan,
  continueTrace,
  formatTraceparent,
  parseTraceparent,
  TRACEPARENT,
  type TraceContext,
  traceFields,
} from "./trace.js";
export {
  signWebhook,
  verifyWebhook,
  WEBHOOK_EVENT_ID_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
} from "./webhook-signature.js";
