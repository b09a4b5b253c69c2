import { afterEach, describe, expect, test } from "vitest";
import { type HealthServer, startHealthServer } from "./health-http.js";
import { createLogger } from "./logger.js";
import { Counter, createMetricsRegistry } from "./metrics.js";

const log = createLogger("test", "silent");
let server: HealthServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function get(path: string, init?: RequestInit) {
  const response = await fetch(`http://127.0.0.1:${server?.port}${path}`, init);
  return { status: response.status, type: response.headers.get("content-type") ?? "", body: await response.text() };
}

describe("the health and metrics port", () => {
  test("port 0 picks a free port; /healthz answers 200 whatever the dependencies say", async () => {
    server = await startHealthServer({
      host: "127.0.0.1",
      port: 0,
      log,
      checks: { nats: async () => Promise.reject(new Error("down")) },
    });
    expect(server.port).toBeGreaterThan(0);
    const health = await get("/healthz");
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toEqual({ status: "ok" });
  });

  test("/readyz is 200 when every check passes, 503 naming the failed and slow ones otherwise", async () => {
    let s3Up = true;
    server = await startHealthServer({
      host: "127.0.0.1",
      port: 0,
      log,
      timeoutMs: 100,
      checks: {
        nats: async () => {},
        s3: async () => {
          if (!s3Up) throw new Error("connect ECONNREFUSED 10.0.0.1:9000");
        },
      },
    });
    const ready = await get("/readyz");
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ status: "ready", checks: { nats: "ok", s3: "ok" } });

    s3Up = false;
    const unready = await get("/readyz");
    expect(unready.status).toBe(503);
    expect(JSON.parse(unready.body)).toEqual({ status: "unready", checks: { nats: "ok", s3: "unreachable" } });
    // The error's detail (an address) stays in the log.
    expect(unready.body).not.toContain("10.0.0.1");
  });

  test("a check that hangs reads as a timeout, within the deadline", async () => {
    server = await startHealthServer({
      host: "127.0.0.1",
      port: 0,
      log,
      timeoutMs: 100,
      checks: { coordinator: () => new Promise<void>(() => {}) },
    });
    const started = Date.now();
    const response = await get("/readyz");
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(response.status).toBe(503);
    expect(JSON.parse(response.body).checks).toEqual({ coordinator: "timeout" });
  });

  test("/metrics serves the registry in Prometheus text format", async () => {
    const registry = createMetricsRegistry();
    const counter = new Counter({ name: "test_things_total", help: "things", registers: [registry] });
    counter.inc(3);
    server = await startHealthServer({ host: "127.0.0.1", port: 0, log, registry, checks: {} });
    const metrics = await get("/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.type).toContain("text/plain");
    expect(metrics.body).toContain("# TYPE test_things_total counter");
    expect(metrics.body).toContain("test_things_total 3");
  });

  test("with a metrics token, /metrics answers only that bearer; /healthz and /readyz stay open", async () => {
    const token = "metrics-token-0123456789";
    const registry = createMetricsRegistry();
    new Counter({ name: "test_secret_total", help: "things", registers: [registry] }).inc();
    server = await startHealthServer({ host: "127.0.0.1", port: 0, log, registry, checks: {}, metricsToken: token });
    for (const authorization of [undefined, "Bearer wrong-token-0123456789", token, `Bearer ${token}x`]) {
      const refused = await get("/metrics", authorization ? { headers: { authorization } } : {});
      expect([refused.status, refused.body], String(authorization)).toEqual([401, '{"status":"unauthenticated"}']);
    }
    const scraped = await get("/metrics", { headers: { authorization: `Bearer ${token}` } });
    expect(scraped.status).toBe(200);
    expect(scraped.body).toContain("test_secret_total 1");
    expect((await get("/healthz")).status).toBe(200);
    expect((await get("/readyz")).status).toBe(200);
  });

  test("unknown paths are 404, other methods 405; no /metrics without a registry", async () => {
    server = await startHealthServer({ host: "127.0.0.1", port: 0, log, checks: {} });
    expect((await get("/nope")).status).toBe(404);
    expect((await get("/metrics")).status).toBe(404);
    expect((await get("/healthz", { method: "POST" })).status).toBe(405);
  });

  test("close stops listening", async () => {
    const started = await startHealthServer({ host: "127.0.0.1", port: 0, log, checks: {} });
    const port = started.port;
    await started.close();
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});
