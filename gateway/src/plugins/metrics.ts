/**
 * The gateway's metrics, served at GET /metrics on its HTTP port: HTTP requests by route, method and status
 * (uploads, results, Connect and gRPC-Web calls alike, on both ports) with their duration, JobService RPCs by
 * method and gRPC code, the bytes uploaded into object storage, and Node's process metrics.
 */
import {
  Counter,
  createMetricsRegistry,
  createRpcMetrics,
  Histogram,
  type Registry,
  type RpcMetrics,
  type Storage,
} from "@imgc/common";
import type { FastifyPluginAsync, RawServerBase } from "fastify";
import fp from "fastify-plugin";

export interface ObserveOptions {
  /** The port's label: http or grpc. */
  port: string;
  /** Whether this instance serves GET /metrics. */
  serve: boolean;
  /** Lets an operator through (throws otherwise); absent: anyone may read /metrics. */
  authorize?: (authorization: string | undefined) => void;
}

export interface GatewayMetrics {
  readonly registry: Registry;
  /** Wraps a ServiceImpl: calls by method and code, and their duration. */
  readonly rpc: RpcMetrics;
  /** Counts the bytes of every upload stored through it. */
  storage<T extends Pick<Storage, "putStream">>(storage: T): T;
  /**
   * A plugin: counts the requests of the instance it is registered on (fp: every route of it, before or
   * after); with `serve`, adds GET /metrics to it, for callers `authorize` lets through (an operator key:
   * the metrics name routes, tenants' volumes and the process).
   */
  readonly observe: FastifyPluginAsync<ObserveOptions, RawServerBase>;
}

export function createGatewayMetrics(registry: Registry = createMetricsRegistry()): GatewayMetrics {
  const requests = new Counter({
    name: "imgc_gateway_http_requests_total",
    help: "HTTP requests, by port (http, grpc), route pattern, method and status",
    labelNames: ["port", "route", "method", "status"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "imgc_gateway_http_request_duration_seconds",
    help: "HTTP request duration until the response ended, by port and route pattern",
    labelNames: ["port", "route"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
    registers: [registry],
  });
  const uploaded = new Counter({
    name: "imgc_gateway_upload_bytes_total",
    help: "Bytes of uploads stored in object storage (PUT and multipart POST /v1/uploads, UploadImage)",
    registers: [registry],
  });
  const uploads = new Counter({
    name: "imgc_gateway_uploads_total",
    help: "Uploads stored in object storage",
    registers: [registry],
  });

  const observe: FastifyPluginAsync<ObserveOptions, RawServerBase> = async (app, { port, serve, authorize }) => {
    app.addHook("onResponse", async (request, reply) => {
      // The route's pattern, not its URL: upload names and job ids would make a series each.
      const route = request.routeOptions.url ?? "unmatched";
      requests.inc({ port, route, method: request.method, status: String(reply.statusCode) });
      duration.observe({ port, route }, reply.elapsedTime / 1000);
    });
    if (serve) {
      app.get("/metrics", { schema: METRICS_SCHEMA }, async (request, reply) => {
        authorize?.(request.headers.authorization);
        return reply.header("content-type", registry.contentType).send(await registry.metrics());
      });
    }
  };

  return {
    registry,
    rpc: createRpcMetrics(registry, "imgc_gateway_"),
    storage(storage) {
      return {
        ...storage,
        async putStream(...args: Parameters<typeof storage.putStream>) {
          await storage.putStream(...args);
          uploads.inc();
          uploaded.inc(args[2]);
        },
      };
    },
    observe: fp(observe, { name: "imgc-gateway-metrics" }),
  };
}

const METRICS_SCHEMA = {
  tags: ["operations"],
  summary: "Prometheus metrics of the gateway (operator key only)",
  security: [{ apiKey: [] }],
  response: { 200: { description: "Prometheus text", content: { "text/plain": { schema: { type: "string" } } } } },
} as const;
