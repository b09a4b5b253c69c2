/**
 * gRPC clients: JobService on the gateway (IMGC_URL, default http://127.0.0.1:8081, with IMGC_API_KEY as a
 * bearer token when set) and ClusterService straight on the coordinator (IMGC_COORDINATOR_URL, with the
 * operator token IMGC_AUTH_TOKEN).
 */
import { readFileSync } from "node:fs";
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
// The transport alone: the CLI is bundled, and the rest of @imgc/common is server code.
import { createFailoverTransport, parseAddresses } from "@imgc/common/failover-transport";
import { ClusterService, JobService } from "@imgc/proto";
import { received, UsageError } from "./args.js";
import { rateLimitInterceptor } from "./rate-limit.js";

export const DEFAULT_URL = "http://127.0.0.1:8081";
/** The gateway's HTTP/1.1 port, for its plain routes (results.zip). */
export const DEFAULT_HTTP_URL = "http://127.0.0.1:8080";
export const DEFAULT_COORDINATOR = "127.0.0.1:50051";

export interface Clients {
  jobs(): Client<typeof JobService>;
  cluster(): Client<typeof ClusterService>;
  /** Closes the HTTP/2 connections so the process can exit. */
  close(): void;
}

function baseUrl(raw: string, variable: string): string {
  try {
    const url = new URL(raw);
    if (url.protocol === "http:" || url.protocol === "https:") return url.toString().replace(/\/+$/, "");
  } catch {}
  throw new UsageError(`Expected a URL like ${DEFAULT_URL} for ${variable} but received ${received(raw)}`);
}

export function gatewayUrl(env: Readonly<Record<string, string | undefined>>): string {
  return baseUrl(env.IMGC_URL || DEFAULT_URL, "IMGC_URL");
}

export function gatewayHttpUrl(env: Readonly<Record<string, string | undefined>>): string {
  return baseUrl(env.IMGC_HTTP_URL || DEFAULT_HTTP_URL, "IMGC_HTTP_URL");
}

/** Authorization for the gateway's plain HTTP routes, as the gRPC client sends it. */
export function authHeaders(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  return env.IMGC_API_KEY ? { authorization: `Bearer ${env.IMGC_API_KEY}` } : {};
}

/** Every coordinator, as base URLs: IMGC_COORDINATOR_URL lists them comma-separated (host:port, or full URLs). */
export function coordinatorUrls(env: Readonly<Record<string, string | undefined>>): string[] {
  return parseAddresses(env.IMGC_COORDINATOR_URL || DEFAULT_COORDINATOR).map((address) =>
    baseUrl(/^[a-z]+:\/\//i.test(address) ? address : `http://${address}`, "IMGC_COORDINATOR_URL"),
  );
}

function bearer(secret: string): Interceptor {
  return (next) => (request) => {
    request.header.set("authorization", `Bearer ${secret}`);
    return next(request);
  };
}

export function createClients(env: Readonly<Record<string, string | undefined>>): Clients {
  const sessions: Http2SessionManager[] = [];
  function transport(url: string, interceptors: Interceptor[], ca?: Buffer) {
    // A CA (IMGC_TLS_CA, for a coordinator serving TLS) goes to Node's TLS connect options.
    const sessionManager = new Http2SessionManager(url, { pingIntervalMs: 15_000 }, ca ? { ca } : undefined);
    sessions.push(sessionManager);
    return createGrpcTransport({ baseUrl: url, sessionManager, interceptors });
  }
  let jobs: Client<typeof JobService> | undefined;
  let cluster: Client<typeof ClusterService> | undefined;
  return {
    jobs() {
      const key = env.IMGC_API_KEY;
      jobs ??= createClient(
        JobService,
        transport(gatewayUrl(env), key ? [rateLimitInterceptor, bearer(key)] : [rateLimitInterceptor]),
      );
      return jobs;
    },
    cluster() {
      // Any coordinator answers reads; a follower names the leader for the rest, and the calls follow it. The
      // operator's internal token (IMGC_AUTH_TOKEN), not an API key, goes with each call; with IMGC_TLS_CA, TLS.
      const token = env.IMGC_AUTH_TOKEN;
      const ca = env.IMGC_TLS_CA ? readFileSync(env.IMGC_TLS_CA) : undefined;
      cluster ??= createClient(
        ClusterService,
        createFailoverTransport({
          addresses: coordinatorUrls(env),
          transportFor: (address) => {
            const url = /^[a-z]+:\/\//i.test(address) ? address : `http://${address}`;
            return transport(ca ? url.replace(/^http:/, "https:") : url, token ? [bearer(token)] : [], ca);
          },
        }),
      );
      return cluster;
    },
    close() {
      for (const session of sessions) session.abort();
    },
  };
}
