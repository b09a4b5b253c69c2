/**
 * RPC metrics for a Connect `ServiceImpl`, as a decorator: calls by method and status code, and their
 * duration. The same implementation then runs instrumented on grpc-js (the coordinator) or on Connect (the
 * gateway), and unit tests can keep the bare one.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { Counter, Histogram, type Registry } from "./metrics.js";

/** gRPC's spelling of a status code: NOT_FOUND, RESOURCE_EXHAUSTED, OK. */
export function codeLabel(code: Code | 0): string {
  if (code === 0) return "OK";
  return (Code[code] ?? "UNKNOWN").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

export interface RpcMetrics {
  /** Wraps every method of `impl`; a method `impl` lacks stays absent. */
  instrument<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): ServiceImpl<S>;
}

export function createRpcMetrics(registry: Registry, prefix = "imgc_"): RpcMetrics {
  const calls = new Counter({
    name: `${prefix}rpc_requests_total`,
    help: "RPCs served, by method and gRPC status code",
    labelNames: ["method", "code"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: `${prefix}rpc_duration_seconds`,
    help: "RPC duration, by method (streams: until the stream ends)",
    labelNames: ["method"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
    registers: [registry],
  });

  function observe(name: string, started: number, err?: unknown): void {
    const code = err === undefined ? 0 : ConnectError.from(err).code;
    calls.inc({ method: name, code: codeLabel(code) });
    duration.observe({ method: name }, (performance.now() - started) / 1000);
  }

  function wrap(service: DescService, method: DescMethod, fn: (...args: unknown[]) => unknown, self: unknown) {
    const name = `${service.name}/${method.name}`;
    if (method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming") {
      return async function* (...args: unknown[]) {
        const started = performance.now();
        try {
          yield* fn.apply(self, args) as AsyncIterable<unknown>;
          observe(name, started);
        } catch (err) {
          observe(name, started, err);
          throw err;
        }
      };
    }
    return async (...args: unknown[]) => {
      const started = performance.now();
      try {
        const response = await fn.apply(self, args);
        observe(name, started);
        return response;
      } catch (err) {
        observe(name, started, err);
        throw err;
      }
    };
  }

  return {
    instrument(service, impl) {
      const out: Record<string, unknown> = {};
      for (const method of service.methods) {
        const fn = (impl as Record<string, unknown>)[method.localName];
        if (typeof fn === "function") out[method.localName] = wrap(service, method, fn as never, impl);
      }
      return out as ServiceImpl<typeof service>;
    },
  };
}
