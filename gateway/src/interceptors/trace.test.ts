import { createClient, createRouterTransport } from "@connectrpc/connect";
import { createLogger, parseTraceparent, TRACEPARENT } from "@imgc/common";
import { JobService } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { propagateTrace, traceCalls } from "./trace.js";

/** A gateway-like JobService that forwards SubmitJob to a coordinator, each with its interceptor. */
function setup() {
  const seen: (string | null)[] = [];
  const lines: Record<string, unknown>[] = [];
  const coordinator = createClient(
    JobService,
    createRouterTransport(
      ({ service }) =>
        service(JobService, {
          async submitJob(_request, context) {
            seen.push(context.requestHeader.get(TRACEPARENT));
            return { job: { id: "job-1" }, created: true };
          },
        }),
      { transport: { interceptors: [propagateTrace] } },
    ),
  );
  const log = createLogger("test", "info");
  log.info = ((obj: Record<string, unknown>, msg: string) => {
    lines.push({ ...obj, msg });
  }) as typeof log.info;
  const gateway = createClient(
    JobService,
    createRouterTransport(
      ({ service }) =>
        service(JobService, {
          // Awaits before the call, as real handlers do (authentication, validation): the context must survive.
          async submitJob(request) {
            await new Promise((resolve) => setTimeout(resolve, 5));
            return coordinator.submitJob(request);
          },
        }),
      { router: { interceptors: [traceCalls(log)] } },
    ),
  );
  return { seen, lines, gateway };
}

describe("trace context at the gateway", () => {
  test("a caller's trace id reaches the coordinator under a new span, and comes back in the response", async () => {
    const { seen, lines, gateway } = setup();
    const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let answered: string | null = null;
    await gateway.submitJob(
      {},
      { headers: { [TRACEPARENT]: incoming }, onHeader: (headers) => (answered = headers.get(TRACEPARENT)) },
    );
    const forwarded = parseTraceparent(seen[0]);
    expect(forwarded?.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(forwarded?.spanId).not.toBe("00f067aa0ba902b7");
    expect(parseTraceparent(answered)?.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: "job submitted", jobId: "job-1", traceId: "4bf92f3577b34da6a3ce929d0e0e4736" }),
    );
  });

  test("a call without one starts a trace; two calls get two traces", async () => {
    const { seen, gateway } = setup();
    await gateway.submitJob({});
    await gateway.submitJob({}, { headers: { [TRACEPARENT]: "not a traceparent" } });
    const [a, b] = seen.map((value) => parseTraceparent(value));
    expect(a?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(b?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(a?.traceId).not.toBe(b?.traceId);
  });
});
