import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { GetJobRequestSchema, JobService } from "@imgc/proto";
import { afterEach, describe, expect, it } from "vitest";
import { createGrpcJsClient, grpcImplementation, grpcServiceDefinition } from "./grpc.js";
import { createLogger } from "./logger.js";

let server: grpc.Server | undefined;

afterEach(() => {
  server?.forceShutdown();
  server = undefined;
});

/** A JobService whose GetJob runs `getJob` with the call's context, on a grpc-js server on loopback. */
async function serve(getJob: (context: HandlerContext) => Promise<void>) {
  server = new grpc.Server();
  server.addService(
    grpcServiceDefinition(JobService),
    grpcImplementation(
      JobService,
      {
        async getJob(_request, context) {
          await getJob(context);
          return {};
        },
      },
      createLogger("test", "silent"),
    ),
  );
  const port = await new Promise<number>((resolve, reject) =>
    server?.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  return { client: createGrpcJsClient(JobService, `127.0.0.1:${port}`), address: `127.0.0.1:${port}` };
}

/** Resolves with the reason the signal aborted with, or "not aborted" after `ms`. */
function abortedWithin(signal: AbortSignal, ms: number): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return Promise.race([
    new Promise((resolve) => signal.addEventListener("abort", () => resolve(signal.reason), { once: true })),
    sleep(ms).then(() => "not aborted"),
  ]);
}

describe("the grpc-js bridge's call context", () => {
  it("aborts a running handler with DeadlineExceeded when the caller's deadline passes, and says what is left", async () => {
    let reason: unknown;
    let left: number | undefined;
    const { client } = await serve(async (context) => {
      left = context.timeoutMs();
      reason = await abortedWithin(context.signal, 5_000);
    });
    const err = await client.getJob({ jobId: "x" }, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.DeadlineExceeded);
    await expect.poll(() => reason, { timeout: 5_000 }).toBeInstanceOf(ConnectError);
    expect((reason as ConnectError).code).toBe(Code.DeadlineExceeded);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(300);
    client.close();
  });

  it("aborts with Canceled when the caller goes away mid-call", async () => {
    let reason: unknown;
    let started!: () => void;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    const { address } = await serve(async (context) => {
      started();
      reason = await abortedWithin(context.signal, 5_000);
    });
    // A raw grpc-js call, which the caller can cancel.
    const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(JobService), JobService.typeName);
    const raw = new Client(address, grpc.credentials.createInsecure()) as unknown as {
      getJob(request: unknown, callback: () => void): grpc.ClientUnaryCall;
      close(): void;
    };
    const call = raw.getJob(create(GetJobRequestSchema, { jobId: "x" }), () => undefined);
    await running;
    call.cancel();
    await expect.poll(() => reason, { timeout: 5_000 }).toBeInstanceOf(ConnectError);
    expect((reason as ConnectError).code).toBe(Code.Canceled);
    raw.close();
  });

  it("leaves an answered call's signal alone: the stream's close after the answer is not a cancellation", async () => {
    let signal: AbortSignal | undefined;
    const { client } = await serve(async (context) => {
      signal = context.signal;
    });
    await client.getJob({ jobId: "x" }, { timeoutMs: 200 });
    client.close();
    // Past the deadline too: nothing of the call is left to time out.
    expect(await abortedWithin(signal as AbortSignal, 600)).toBe("not aborted");
  });
});
