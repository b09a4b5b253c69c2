import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { createLogger, verifyWebhook } from "@imgc/common";
import { JobSchema, JobState } from "@imgc/proto";
import { afterEach, describe, expect, it } from "vitest";
import { createGuardedFetch } from "../net/ssrf-guard.js";
import { createWebhooks, webhookSecrets } from "./webhook.js";

const log = createLogger("test", "silent");
const policy = { allow: ["127.0.0.1"], allowedHosts: [], maxBytes: 1024, timeoutMs: 2_000 };

interface Received {
  headers: Record<string, string | string[] | undefined>;
  body: string;
  at: number;
}

let server: Server | undefined;
afterEach(() => {
  server?.closeAllConnections();
  server?.close();
});

/** A receiver answering the given statuses in turn (then 200), recording each request. */
async function receiver(statuses: number[]): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (part) => {
      body += part;
    });
    req.on("end", () => {
      received.push({ headers: req.headers, body, at: Date.now() });
      res.writeHead(statuses[received.length - 1] ?? 200).end();
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

function jobFor(url: string) {
  return create(JobSchema, { id: "job1", tenant: "acme", state: JobState.COMPLETED, webhookUrl: url });
}

function webhooks(options: { allow?: string[]; secrets?: string; fallback?: string; maxAttempts?: number } = {}) {
  return createWebhooks({
    log,
    guard: createGuardedFetch({
      ...policy,
      allow: options.allow ?? policy.allow,
      ports: [(server?.address() as AddressInfo | null)?.port ?? 80],
    }),
    secretFor: webhookSecrets(options.secrets ?? "acme:s3cret", options.fallback ?? "fallback"),
    maxAttempts: options.maxAttempts ?? 4,
    baseDelayMs: 20,
  });
}

describe("webhooks", () => {
  it("POSTs the ended job once, signed with the tenant's secret", async () => {
    const { url, received } = await receiver([200]);
    expect(await webhooks().notify(jobFor(url))).toBe(true);
    expect(received).toHaveLength(1);
    const [request] = received as [Received];
    expect(JSON.parse(request.body)).toMatchObject({
      id: "job1.job.finished",
      event: "job.finished",
      job: { id: "job1", tenant: "acme", state: "JOB_STATE_COMPLETED" },
    });
    expect(request.headers["imgc-signature"]).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifyWebhook("s3cret", request.headers, request.body)).toBe(true);
    expect(verifyWebhook("fallback", request.headers, request.body)).toBe(false);
    expect(request.headers["imgc-event-id"]).toBe("job1.job.finished");
  });

  it("sends nothing unsigned: a tenant without a secret gets no webhook", async () => {
    const { url, received } = await receiver([200]);
    expect(await webhooks({ secrets: "globex:other", fallback: "" }).notify(jobFor(url))).toBe(false);
    expect(received).toHaveLength(0);
  });

  it("signs with IMGC_WEBHOOK_SECRET for tenants without their own", async () => {
    const { url, received } = await receiver([200]);
    expect(await webhooks({ secrets: "globex:other" }).notify(jobFor(url))).toBe(true);
    expect(verifyWebhook("fallback", received[0]?.headers ?? {}, received[0]?.body ?? "")).toBe(true);
  });

  it("retries 5xx and 429 with doubling delays, each attempt signed afresh", async () => {
    const { url, received } = await receiver([503, 429, 500, 200]);
    expect(await webhooks().notify(jobFor(url))).toBe(true);
    expect(received).toHaveLength(4);
    const gaps = received.slice(1).map((r, i) => r.at - (received[i] as Received).at);
    expect(gaps[0]).toBeGreaterThanOrEqual(18);
    expect(gaps[1]).toBeGreaterThanOrEqual(38);
    expect(gaps[2]).toBeGreaterThanOrEqual(78);
    for (const request of received) expect(verifyWebhook("s3cret", request.headers, request.body)).toBe(true);
    // Every attempt is the same event: a receiver deduplicating by id handles it once.
    expect(new Set(received.map((request) => request.headers["imgc-event-id"]))).toEqual(
      new Set(["job1.job.finished"]),
    );
  });

  it("gives up on a client error at once, and after maxAttempts on server errors", async () => {
    const refused = await receiver([404, 200]);
    expect(await webhooks().notify(jobFor(refused.url))).toBe(false);
    expect(refused.received).toHaveLength(1);
    server?.close();
    const failing = await receiver([500, 500, 500, 500, 200]);
    expect(await webhooks({ maxAttempts: 3 }).notify(jobFor(failing.url))).toBe(false);
    expect(failing.received).toHaveLength(3);
  });

  it("never POSTs to a URL the guard refuses, and gives up on a receiver that is gone", async () => {
    const { url, received } = await receiver([200]);
    expect(await webhooks({ allow: [] }).notify(jobFor(url))).toBe(false);
    expect(received).toHaveLength(0);
    server?.close();
    const closed = await webhooks({ maxAttempts: 2 }).notify(jobFor(url));
    expect(closed).toBe(false);
  });

  it("does nothing for a job without a webhook", async () => {
    expect(await webhooks().notify(create(JobSchema, { id: "j" }))).toBe(false);
  });
});
