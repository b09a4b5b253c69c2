import { describe, expect, test } from "vitest";
import { childSpan, continueTrace, formatTraceparent, parseTraceparent, startTrace, traceFields } from "./trace.js";

const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("traceparent", () => {
  test("parses the W3C example and formats it back", () => {
    const context = parseTraceparent(valid);
    expect(context).toEqual({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", flags: "01" });
    expect(formatTraceparent(context as NonNullable<typeof context>)).toBe(valid);
  });

  test.each([
    ["missing", undefined],
    ["empty", ""],
    ["garbage", "hello"],
    ["short trace id", "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01"],
    ["zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"],
    ["zero span id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"],
    ["version ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
  ])("rejects a %s value", (_name, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
  });

  test("a new trace is valid and random; a child span keeps the trace id and changes the span id", () => {
    const a = startTrace();
    const b = startTrace();
    expect(parseTraceparent(formatTraceparent(a))).toEqual(a);
    expect(a.traceId).not.toBe(b.traceId);
    const child = childSpan(a);
    expect(child.traceId).toBe(a.traceId);
    expect(child.spanId).not.toBe(a.spanId);
  });

  test("continueTrace keeps an incoming trace id and starts one otherwise", () => {
    expect(continueTrace(valid).traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(continueTrace("bogus").traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  test("traceFields gives log bindings, or none", () => {
    expect(traceFields(valid)).toEqual({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" });
    expect(traceFields("")).toEqual({});
  });
});
