/**
 * A worker's own metrics: the items it processed (state, error code, bytes, duration by output format, cache
 * hits), the chunks it claimed, got redelivered, completed and released, its calls to the coordinator that
 * failed, and, read at scrape time, its slots, busy slots, draining flag and items per second.
 *
 * They are decorators around the worker's parts (ProcessItem, CoordinatorClient), so the parts stay free of
 * metrics. The item decorator also writes the one log line per item that, with the job's trace id, lets an
 * operator follow a job through the workers.
 */

import { ConnectError } from "@connectrpc/connect";
import {
  AbortedError,
  Counter,
  codeLabel,
  createItemMetrics,
  Gauge,
  type Logger,
  type Registry,
  traceFields,
} from "@imgc/common";
import { ErrorCode, ImageFormat, ItemState, type WorkerStatus } from "@imgc/proto";
import { type CoordinatorClient, CoordinatorUnreachable } from "../coordinator-client.js";
import type { ProcessItem } from "../process-item.js";

export function createWorkerMetrics(registry: Registry, log: Logger) {
  const items = createItemMetrics(registry, "imgc_worker_", "this worker");
  let status: (() => WorkerStatus) | undefined;

  const claimed = new Counter({
    name: "imgc_worker_chunks_claimed_total",
    help: "Chunks this worker pulled and claimed",
    registers: [registry],
  });
  const redelivered = new Counter({
    name: "imgc_worker_chunk_redeliveries_total",
    help: "Chunks this worker got on a second or later delivery",
    registers: [registry],
  });
  const completed = new Counter({
    name: "imgc_worker_chunks_completed_total",
    help: "Chunks this worker finished (completed) or gave back unfinished (released)",
    labelNames: ["how"] as const,
    registers: [registry],
  });
  const coordinatorErrors = new Counter({
    name: "imgc_worker_coordinator_errors_total",
    help: "Calls to the coordinator that failed after their retries, by call and gRPC code",
    labelNames: ["call", "code"] as const,
    registers: [registry],
  });
  completed.inc({ how: "completed" }, 0);
  completed.inc({ how: "released" }, 0);

  const fromStatus = (name: string, help: string, value: (s: WorkerStatus) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        if (status) this.set(value(status()));
      },
    });
  fromStatus("imgc_worker_slots", "Chunks this worker runs at once (IMGC_WORKER_SLOTS)", (s) => s.slots);
  fromStatus("imgc_worker_slots_busy", "Slots running a chunk now", (s) => s.busy);
  fromStatus("imgc_worker_draining", "1 while the worker drains (pulls nothing more)", (s) => (s.draining ? 1 : 0));
  fromStatus("imgc_worker_items_per_second", "Items finished per second over the last minute", (s) => s.itemsPerSecond);

  function failed(call: string, err: unknown): void {
    // A released chunk abandons its calls: nothing failed.
    if (AbortedError.is(err)) return;
    const code = CoordinatorUnreachable.is(err) ? ConnectError.from(err.cause).code : ConnectError.from(err).code;
    coordinatorErrors.inc({ call, code: codeLabel(code) });
  }

  return {
    /** The worker whose status the gauges read. */
    track(read: () => WorkerStatus): void {
      status = read;
    },

    processItem(inner: ProcessItem): ProcessItem {
      return async (chunk, item, signal) => {
        const result = await inner(chunk, item, signal);
        items.observe(result);
        log.info(
          {
            jobId: chunk.jobId,
            chunk: `${chunk.jobId}.${chunk.index}`,
            item: item.itemId,
            ...traceFields(chunk.traceParent),
            state: ItemState[result.state],
            ...(result.state === ItemState.FAILED
              ? { code: ErrorCode[result.errorCode] }
              : result.detection
                ? { objects: result.detection.objects.map((o) => o.label), bytesIn: Number(result.inputBytes) }
                : {
                    format: ImageFormat[result.format],
                    bytesIn: Number(result.inputBytes),
                    bytesOut: Number(result.outputBytes),
                  }),
            ms: result.durationMs,
          },
          "item",
        );
        return result;
      };
    },

    coordinator(inner: CoordinatorClient): CoordinatorClient {
      return {
        async claim(chunk, delivery, signal) {
          try {
            const claim = await inner.claim(chunk, delivery, signal);
            claimed.inc();
            if (delivery > 1) redelivered.inc();
            return claim;
          } catch (err) {
            failed("ClaimChunk", err);
            throw err;
          }
        },
        async report(chunk, result, signal) {
          try {
            return await inner.report(chunk, result, signal);
          } catch (err) {
            failed("ReportItem", err);
            throw err;
          }
        },
        async reportMany(chunk, batch, signal) {
          try {
            const answer = await inner.reportMany(chunk, batch, signal);
            if (batch.complete) completed.inc({ how: "completed" });
            return answer;
          } catch (err) {
            failed("ReportItems", err);
            throw err;
          }
        },
        async complete(chunk, released, signal, budgetMs) {
          try {
            await inner.complete(chunk, released, signal, budgetMs);
            completed.inc({ how: released ? "released" : "completed" });
          } catch (err) {
            failed("CompleteChunk", err);
            throw err;
          }
        },
      };
    },
  };
}
