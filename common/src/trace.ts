/**
 * W3C trace context (`traceparent: 00-<trace id>-<span id>-<flags>`), carried from the gateway through gRPC
 * metadata to the coordinator, on the job and its chunks, through NATS headers to the worker, and back in its
 * ReportItem metadata. No tracing SDK: every hop logs the trace id, so one job's path is a grep away.
 */
import { randomBytes } from "node:crypto";

export const TRACEPARENT = "traceparent";

export interface TraceContext {
  /** 32 lower-case hex digits, not all zero. */
  readonly traceId: string;
  /** 16 lower-case hex digits, not all zero: the span of whoever sent it. */
  readonly spanId: string;
  /** Two hex digits; 01 is "sampled". */
  readonly flags: string;
}

const PATTERN = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The context in a `traceparent` value; undefined for a missing or malformed one (the spec says: start anew). */
export function parseTraceparent(value: string | null | undefined): TraceContext | undefined {
  const match = PATTERN.exec(value?.trim().toLowerCase() ?? "");
  if (!match) return undefined;
  const [, version, traceId = "", spanId = "", flags = ""] = match;
  if (version === "ff" || /^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, flags };
}

export function formatTraceparent(context: TraceContext): string {
  return `00-${context.traceId}-${context.spanId}-${context.flags}`;
}

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

/** A new trace, sampled. */
export function startTrace(): TraceContext {
  return { traceId: hex(16), spanId: hex(8), flags: "01" };
}

/** The same trace, seen from a new span (a hop that forwards it names itself as the parent). */
export function childSpan(parent: TraceContext): TraceContext {
  return { ...parent, spanId: hex(8) };
}

/** The incoming context continued, or a new trace when there is none. */
export function continueTrace(value: string | null | undefined): TraceContext {
  const parent = parseTraceparent(value);
  return parent ? childSpan(parent) : startTrace();
}

/** Log bindings for a traceparent value: `{ traceId, spanId }`, or nothing when there is none. */
export function traceFields(value: string | null | undefined): { traceId?: string; spanId?: string } {
  const context = parseTraceparent(value);
  return context ? { traceId: context.traceId, spanId: context.spanId } : {};
}
