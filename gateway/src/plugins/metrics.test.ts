import { Readable } from "node:stream";
import fastify from "fastify";
import { describe, expect, test } from "vitest";
import { createGatewayMetrics } from "./metrics.js";

function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("gateway metrics", () => {
  test("requests are counted by route pattern, method and status; GET /metrics serves them", async () => {
    const metrics = createGatewayMetrics();
    const app = fastify();
    await app.register(metrics.observe, { port: "http", serve: true });
    app.get("/v1/jobs/:id/results.zip", async (request, reply) =>
      (request.params as { id: string }).id === "missing" ? reply.code(404).send({}) : { ok: true },
    );
    await app.inject({ method: "GET", url: "/v1/jobs/abc/results.zip" });
    await app.inject({ method: "GET", url: "/v1/jobs/def/results.zip" });
    await app.inject({ method: "GET", url: "/v1/jobs/missing/results.zip" });
    await app.inject({ method: "GET", url: "/nowhere" });

    const response = await app.inject({ method: "GET", url: "/metrics" });
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toContain("text/plain");
    const text = response.body;
    const route = 'port="http",route="/v1/jobs/:id/results.zip",method="GET"';
    expect(sample(text, `imgc_gateway_http_requests_total{${route},status="200"}`)).toBe(2);
    expect(sample(text, `imgc_gateway_http_requests_total{${route},status="404"}`)).toBe(1);
    expect(
      sample(text, 'imgc_gateway_http_requests_total{port="http",route="unmatched",method="GET",status="404"}'),
    ).toBe(1);
    expect(
      sample(text, 'imgc_gateway_http_request_duration_seconds_count{port="http",route="/v1/jobs/:id/results.zip"}'),
    ).toBe(3);
    expect(text).toContain("process_resident_memory_bytes");
    await app.close();
  });

  test("the second port is counted under its own label and serves no /metrics", async () => {
    const metrics = createGatewayMetrics();
    const app = fastify();
    await app.register(metrics.observe, { port: "grpc", serve: false });
    expect((await app.inject({ method: "GET", url: "/metrics" })).statusCode).toBe(404);
    const text = await metrics.registry.metrics();
    expect(
      sample(text, 'imgc_gateway_http_requests_total{port="grpc",route="unmatched",method="GET",status="404"}'),
    ).toBe(1);
    await app.close();
  });

  test("uploads stored through the wrapped storage count their bytes; failed ones do not", async () => {
    const metrics = createGatewayMetrics();
    let fail = false;
    const storage = metrics.storage({
      async putStream(_key: string, body: Readable, _size: number, _contentType: string) {
        for await (const _ of body) {
          // drain
        }
        if (fail) throw new Error("S3 down");
      },
      async presignPut(_key: string, _expirySeconds: number) {
        return "http://s3/put";
      },
    });
    await storage.putStream("uploads/t/1/a.jpg", Readable.from([Buffer.alloc(1000)]), 1000, "image/jpeg");
    await storage.putStream("uploads/t/2/b.jpg", Readable.from([Buffer.alloc(24)]), 24, "image/jpeg");
    fail = true;
    await expect(
      storage.putStream("uploads/t/3/c.jpg", Readable.from([Buffer.alloc(5)]), 5, "image/jpeg"),
    ).rejects.toThrow();
    expect(await storage.presignPut("k", 60)).toBe("http://s3/put");
    const text = await metrics.registry.metrics();
    expect(sample(text, "imgc_gateway_upload_bytes_total")).toBe(1024);
    expect(sample(text, "imgc_gateway_uploads_total")).toBe(2);
  });

  test("RPCs through the instrumented service are counted by method and code", async () => {
    const { createClient, createRouterTransport, Code, ConnectError } = await import("@connectrpc/connect");
    const { JobService } = await import("@imgc/proto");
    const metrics = createGatewayMetrics();
    const client = createClient(
      JobService,
      createRouterTransport(({ service }) =>
        service(
          JobService,
          metrics.rpc.instrument(JobService, {
            async getJob() {
              throw new ConnectError("no such job", Code.NotFound);
            },
            async listJobs() {
              return {};
            },
          }),
        ),
      ),
    );
    await client.listJobs({});
    await expect(client.getJob({ jobId: "x" })).rejects.toThrow();
    const text = await metrics.registry.metrics();
    expect(sample(text, 'imgc_gateway_rpc_requests_total{method="JobService/ListJobs",code="OK"}')).toBe(1);
    expect(sample(text, 'imgc_gateway_rpc_requests_total{method="JobService/GetJob",code="NOT_FOUND"}')).toBe(1);
  });
});
