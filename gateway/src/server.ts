/**
 * The gateway: the public edge of the cluster.
 *
 * Two Fastify instances serve the same JobService: `http` (HTTP/1.1) speaks Connect and gRPC-Web to
 * browsers and curl, and also carries uploads, health and the web client; `grpc` (HTTP/2 cleartext) speaks
 * gRPC to typed clients and the imgc CLI, with server reflection. Both authenticate (and rate-limit) in
 * Connect's request gate, before any message is read; the plain HTTP routes (uploads, results, reports,
 * cluster) do the same in an onRequest hook, against the same buckets.
 */

import { maxHeaderSize } from "node:http";
import type { Http2Server, Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { type Client, Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { fastifyConnectPlugin } from "@connectrpc/connect-fastify";
import fastifyCors from "@fastify/cors";
import type { ReadinessCheck as Check } from "@imgc/common";
import { type Logger, MAX_MESSAGE_BYTES, reflectionRoutes, type Storage } from "@imgc/common";
import { type ClusterService, JobService } from "@imgc/proto";
import fastify, { type FastifyInstance } from "fastify";
import { checkJobIds } from "./interceptors/job-ids.js";
import { traceCalls } from "./interceptors/trace.js";
import { createCallerSlots } from "./limits/caller-slots.js";
import { createRateLimiter, type RateLimit } from "./limits/rate-limit.js";
import { authGate, createAuthenticator } from "./plugins/auth.js";
import { corsOptions } from "./plugins/cors.js";
import { clientError, concealUnexpectedErrors, errorReplies, schemaError } from "./plugins/errors.js";
import { createGatewayMetrics, type GatewayMetrics } from "./plugins/metrics.js";
import { openApi } from "./plugins/openapi.js";
import { requestLog } from "./plugins/request-log.js";
import { securityHeaders } from "./plugins/security-headers.js";
import { builtWebDir, staticWeb } from "./plugins/static-web.js";
import { clusterRoutes } from "./routes/cluster.js";
import { healthRoutes } from "./routes/health.js";
import { resultRoutes } from "./routes/results.js";
import { uploadRoutes } from "./routes/uploads.js";
import type { CoordinatorJobService } from "./services/coordinator.js";
import { createJobService } from "./services/job-service.js";
import { createResultsReader } from "./services/results.js";
import { createUploads, type UploadStorage } from "./services/uploads.js";

export interface GatewayDeps {
  log: Logger;
  /** The coordinator's JobService, which every RPC but the uploads is forwarded to. */
  coordinator: CoordinatorJobService;
  /** The coordinator's ClusterService, for GET /v1/cluster. */
  cluster: Client<typeof ClusterService>;
  /** Uploads write through it; results.zip reads outputs from it. */
  storage: UploadStorage & Pick<Storage, "getStream">;
  /** Readiness checks by name (coordinator, nats, s3). */
  checks: Record<string, Check>;
  /** API key → tenant; empty for dev mode (main.ts allows that only with IMGC_DEV_MODE). */
  apiKeys: ReadonlyMap<string, string>;
  /** Keys that may read GET /v1/cluster and GET /metrics (in dev mode, everyone may). */
  operatorKeys?: readonly string[];
  /** The most time a request may take to arrive (HTTP/1.1), and an upload to stream in (every path). */
  requestTimeoutMs?: number;
  /** results.zip downloads one caller may run at once (2 by default). */
  maxZipsPerKey?: number;
  /** WatchJob streams one caller may hold open at once (16 by default). */
  maxWatchesPerKey?: number;
  /** The S3 origin browsers are sent to (presigned URLs), allowed by the web client's CSP. */
  s3Origin?: string | undefined;
  maxUploadBytes: number;
  /** Per API key (per tenant in dev mode); absent or 0 disables it. */
  rateLimit?: RateLimit;
  /** Where multipart upload parts are spooled; the OS temporary folder by default. */
  spoolDir?: string;
  corsOrigins: readonly string[];
  /** The built web client; skipped when the folder does not exist. */
  webDir?: string;
  /** How long in-flight RPCs (WatchJob streams) may run on after close() before they are cut. */
  shutdownTimeoutMs?: number;
  /** Served at GET /metrics on the HTTP port; a fresh registry by default. */
  metrics?: GatewayMetrics;
}

export type Http2Fastify = FastifyInstance<Http2Server, Http2ServerRequest, Http2ServerResponse>;

export interface Gateway {
  http: FastifyInstance;
  grpc: Http2Fastify;
  /** Whether the web client is served. */
  web: boolean;
}

export async function build(deps: GatewayDeps): Promise<Gateway> {
  const auth = createAuthenticator({
    apiKeys: deps.apiKeys,
    operatorKeys: deps.operatorKeys ?? [],
    admit: createRateLimiter(deps.rateLimit ?? { perSecond: 0, burst: 0 }),
    log: deps.log,
  });
  const authenticate = auth.tenant;
  const requestTimeoutMs = deps.requestTimeoutMs ?? 300_000;
  const metrics = deps.metrics ?? createGatewayMetrics();
  const uploads = createUploads({
    storage: metrics.storage(deps.storage),
    maxUploadBytes: deps.maxUploadBytes,
    timeoutMs: requestTimeoutMs,
    log: deps.log,
  });
  const service = metrics.rpc.instrument(
    JobService,
    createJobService({
      coordinator: deps.coordinator,
      uploads,
      log: deps.log,
      watches: createCallerSlots(deps.maxWatchesPerKey ?? 16),
    }),
  );
  const reflection = reflectionRoutes([JobService]);
  // Fresh options per instance: the plugin keeps state (its shutdown signal) in them. Reflection is a
  // bidi stream, so it is served on the HTTP/2 port only.
  const connectOptions = (withReflection: boolean) => ({
    routes: (router: ConnectRouter) => {
      router.service(JobService, service);
      if (withReflection) reflection(router);
    },
    requestGate: authGate(authenticate),
    interceptors: [traceCalls(deps.log), concealUnexpectedErrors(deps.log), checkJobIds()],
    // The coordinator's limit: a request taken here is never refused there for its size (one code per mistake).
    readMaxBytes: MAX_MESSAGE_BYTES,
    shutdownTimeoutMs: deps.shutdownTimeoutMs ?? 5_000,
    shutdownError: new ConnectError("the gateway is shutting down, reconnect", Code.Unavailable),
  });

  // File names travel in the upload path; allow long ones (the stored key shortens them).
  // requestTimeout: a request that dribbles in (a slow-drip upload holding an S3 PUT open) is cut off.
  // maxParamLength: the router takes any parameter the URL can hold (Node bounds the URL and headers), so
  // that the route schemas, not the router, refuse a long name or id, with the documented errors. Ajv's
  // verbose errors carry the refused value for the messages (schemaError quotes only a short prefix of it).
  const http = fastify({
    logger: false,
    routerOptions: { maxParamLength: maxHeaderSize },
    requestTimeout: requestTimeoutMs,
    ajv: { customOptions: { verbose: true } },
    schemaErrorFormatter: schemaError,
    clientErrorHandler: clientError,
  });
  // In the order of fastify/demo: external plugins, then the gateway's own (hooks and handlers on the root,
  // so they see every route), then the routes, each in a scope of its own. The OpenAPI generator comes
  // before any route so that it sees them all.
  await http.register(fastifyCors, corsOptions({ origins: deps.corsOrigins }));
  // errorReplies first among them: a route takes the error handler of the moment it is added (GET /metrics).
  await http.register(errorReplies, { log: deps.log });
  await http.register(openApi);
  await http.register(requestLog, { log: deps.log });
  await http.register(metrics.observe, { port: "http", serve: true, authorize: auth.operator });
  await http.register(securityHeaders, { s3Origin: deps.s3Origin });
  await http.register(healthRoutes, { checks: deps.checks, log: deps.log });
  await http.register(uploadRoutes, {
    uploads,
    authenticate,
    maxUploadBytes: deps.maxUploadBytes,
    ...(deps.spoolDir === undefined ? {} : { spoolDir: deps.spoolDir }),
  });
  const openResults = createResultsReader({ coordinator: deps.coordinator, log: deps.log });
  await http.register(resultRoutes, {
    openResults,
    storage: deps.storage,
    authenticate,
    log: deps.log,
    zips: createCallerSlots(deps.maxZipsPerKey ?? 2),
  });
  await http.register(clusterRoutes, { cluster: deps.cluster, authorize: auth.operator, log: deps.log });
  await http.register(fastifyConnectPlugin, connectOptions(false));
  const webRoot = builtWebDir(deps.webDir);
  if (webRoot !== undefined) await http.register(staticWeb, { root: webRoot });

  const grpc = fastify({ logger: false, http2: true });
  await grpc.register(errorReplies, { log: deps.log });
  await grpc.register(requestLog, { log: deps.log });
  await grpc.register(metrics.observe, { port: "grpc", serve: false, authorize: auth.operator });
  await grpc.register(healthRoutes, { checks: deps.checks, log: deps.log });
  await grpc.register(fastifyConnectPlugin, connectOptions(true));

  return { http, grpc, web: webRoot !== undefined };
}
