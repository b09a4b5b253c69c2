/**
 * The operator's HTTP port of a process: `/healthz` (alive: the event loop answers), `/readyz` (its
 * dependencies answer: 200, or 503 naming which do not) and `/metrics` (Prometheus text).
 *
 * Readiness checks run at once, each with a deadline. The answer names a failed dependency in one safe word;
 * the detail (hosts, error text) goes to the log, not to whoever polls the port.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import type { NatsConnection } from "nats";
import type { Logger } from "./logger.js";
import type { Registry } from "./metrics.js";

const sha256 = (text: string) => createHash("sha256").update(text).digest();

/** Resolves when the dependency answers; throws otherwise. */
export type ReadinessCheck = (timeoutMs: number) => Promise<void>;

export type CheckStatus = "ok" | "unreachable" | "timeout";

export interface Readiness {
  ready: boolean;
  checks: Record<string, CheckStatus>;
}

export async function checkReadiness(
  checks: Record<string, ReadinessCheck>,
  timeoutMs: number,
  log: Logger,
): Promise<Readiness> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]): Promise<[string, CheckStatus]> => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), timeoutMs);
      });
      try {
        const outcome = await Promise.race([check(timeoutMs).then(() => "ok" as const), deadline]);
        if (outcome === "timeout") log.warn({ check: name, timeoutMs }, "readiness check timed out");
        return [name, outcome];
      } catch (err) {
        log.warn({ check: name, err: String(err) }, "readiness check failed");
        return [name, "unreachable"];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ready: entries.every(([, status]) => status === "ok"), checks: Object.fromEntries(entries) };
}

export interface HealthServerOptions {
  host: string;
  /** 0 picks a free port (several workers on one host); `port` then says which. */
  port: number;
  log: Logger;
  /** Served at /metrics; no /metrics without it. */
  registry?: Registry;
  /**
   * The credential /metrics requires (`Authorization: Bearer <it>`: 401 without it or with another); without
   * it /metrics is open, which only a development cluster (IMGC_INSECURE_INTERNAL=1) may ask for.
   */
  metricsToken?: string;
  /** Readiness checks by name (nats, s3, coordinator, …). */
  checks: Record<string, ReadinessCheck>;
  /** Deadline of one readiness check. */
  timeoutMs?: number;
  /** More GET endpoints answering JSON, by path ("/backlog"). */
  routes?: Record<string, () => Promise<unknown>>;
  /**
   * Who may read `routes`, by the request's `authorization` header: throws a ConnectError Unauthenticated (401) or
   * PermissionDenied (403). Without it the routes are open, like /healthz, /readyz and /metrics.
   */
  authorizeRoutes?: (authorization: string | undefined) => void;
}

export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const { log, registry, checks } = options;
  const timeoutMs = options.timeoutMs ?? 2_000;
  // Compared by digest, in constant time: the header never meets the secret character by character.
  const expected = options.metricsToken === undefined ? undefined : sha256(`Bearer ${options.metricsToken}`);
  const metricsAllowed = (authorization: string | undefined) =>
    expected === undefined || timingSafeEqual(sha256(authorization ?? ""), expected);

  function send(response: ServerResponse, status: number, type: string, body: string): void {
    response.writeHead(status, { "content-type": type, "cache-control": "no-store" });
    response.end(body);
  }
  const json = (response: ServerResponse, status: number, body: unknown) =>
    send(response, status, "application/json; charset=utf-8", JSON.stringify(body));

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? "/").split("?")[0];
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.setHeader("allow", "GET, HEAD");
      return json(response, 405, { status: "method not allowed" });
    }
    if (path === "/healthz") return json(response, 200, { status: "ok" });
    if (path === "/readyz") {
      const { ready, checks: results } = await checkReadiness(checks, timeoutMs, log);
      return json(response, ready ? 200 : 503, { status: ready ? "ready" : "unready", checks: results });
    }
    if (path === "/metrics" && registry) {
      if (!metricsAllowed(request.headers.authorization)) {
        response.setHeader("www-authenticate", 'Bearer realm="metrics"');
        return json(response, 401, { status: "unauthenticated" });
      }
      return send(response, 200, registry.contentType, await registry.metrics());
    }
    const route = path === undefined ? undefined : options.routes?.[path];
    if (route) {
      try {
        options.authorizeRoutes?.(request.headers.authorization);
      } catch (err) {
        const code = err instanceof ConnectError ? err.code : undefined;
        if (code === Code.Unauthenticated) return json(response, 401, { status: "unauthenticated" });
        if (code === Code.PermissionDenied) return json(response, 403, { status: "permission denied" });
        throw err;
      }
      return json(response, 200, await route());
    }
    return json(response, 404, { status: "not found" });
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((err: unknown) => {
      log.error({ err, url: request.url }, "health endpoint failed");
      if (!response.headersSent) json(response, 500, { status: "internal error" });
      else response.destroy();
    });
  });
  // A scrape that hangs must not hold a socket forever.
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Readiness of a NATS connection: a round trip to the server. */
export function natsReadiness(nc: () => NatsConnection | undefined): ReadinessCheck {
  return async () => {
    const connection = nc();
    if (connection === undefined || connection.isClosed()) throw new Error("not connected");
    await connection.flush();
  };
}

/** grpc.health.v1.HealthCheckResponse.status, SERVING. */
const SERVING = 1;

/** Reads field 1 (a varint) of a HealthCheckResponse; 0 (UNKNOWN) when absent. */
function servingStatus(bytes: Buffer): number {
  let at = 0;
  while (at < bytes.length) {
    const tag = bytes[at++] ?? 0;
    if (tag !== 0x08) return 0;
    let value = 0;
    let shift = 0;
    for (;;) {
      const byte = bytes[at++] ?? 0;
      value |= (byte & 0x7f) << shift;
      shift += 7;
      if ((byte & 0x80) === 0 || at >= bytes.length) break;
    }
    return value;
  }
  return 0;
}

export interface GrpcHealthProbe {
  check: ReadinessCheck;
  close(): void;
}

/**
 * Readiness of a gRPC server through the standard health service (grpc.health.v1.Health/Check, the whole
 * server): it must answer SERVING. The two messages are encoded by hand, which spares a proto loader for a
 * one-field request (empty: service "") and a one-field response.
 */
/** Health of a gRPC server; of several (comma-separated), passes when any of them is SERVING. */
/** `credentials`: TLS when the coordinator serves it (internal-tls.ts). */
export function grpcHealthProbe(
  address: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): GrpcHealthProbe {
  const clients = address.split(",").map((entry) => new grpc.Client(entry.trim(), credentials));
  const checkOne = (client: grpc.Client, timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      client.makeUnaryRequest(
        "/grpc.health.v1.Health/Check",
        () => Buffer.alloc(0),
        (bytes: Buffer) => servingStatus(bytes),
        {},
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, status) => {
          if (err) reject(new Error(`health check failed: ${err.details || err.message}`));
          else if (status !== SERVING) reject(new Error(`health status ${status}`));
          else resolve();
        },
      );
    });
  return {
    check: async (timeoutMs) => {
      try {
        await Promise.any(clients.map((client) => checkOne(client, timeoutMs)));
      } catch (err) {
        throw (err as AggregateError).errors?.[0] ?? err;
      }
    },
    close: () => {
      for (const client of clients) client.close();
    },
  };
}
