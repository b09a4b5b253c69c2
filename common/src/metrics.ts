/**
 * Prometheus metrics (prom-client). Each process owns one registry, served on its HTTP port at /metrics with
 * Node's default process metrics. Item outcomes are counted the same way by the coordinator (every item once,
 * as recorded: the cluster's view) and by each worker (what that worker processed), under different prefixes
 * so that a sum over all targets never counts an item twice.
 */
import { ErrorCode, ImageFormat, type ItemResult, ItemState } from "@imgc/proto";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export { Counter, Gauge, Histogram, Registry };

export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Seconds; an image takes from a few milliseconds (a cache hit) to a minute (a large AVIF search). */
export const ITEM_DURATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Label values: the proto enum names, lower-case for formats and states, as written for codes. */
export const formatLabel = (format: ImageFormat): string => (ImageFormat[format] ?? "unspecified").toLowerCase();
export const itemStateLabel = (state: ItemState): string => (ItemState[state] ?? "unspecified").toLowerCase();
export const errorCodeLabel = (code: ErrorCode): string => ErrorCode[code] ?? "UNSPECIFIED";

export interface ItemMetrics {
  /** Counts one terminal result. */
  observe(result: ItemResult): void;
}

/**
 * Items by state, failures by error code, bytes in and out, and the item-duration histogram by output format
 * (failed items under format "none"), named `<prefix>items_total` and so on.
 */
export function createItemMetrics(registry: Registry, prefix: string, whose: string): ItemMetrics {
  const items = new Counter({
    name: `${prefix}items_total`,
    help: `Items that reached a terminal state (${whose}), by state`,
    labelNames: ["state"] as const,
    registers: [registry],
  });
  const errors = new Counter({
    name: `${prefix}item_errors_total`,
    help: `Failed items (${whose}), by stable error code`,
    labelNames: ["code"] as const,
    registers: [registry],
  });
  const bytesIn = new Counter({
    name: `${prefix}bytes_in_total`,
    help: `Source bytes read (${whose})`,
    registers: [registry],
  });
  const bytesOut = new Counter({
    name: `${prefix}bytes_out_total`,
    help: `Output bytes written (${whose})`,
    registers: [registry],
  });
  const cacheHits = new Counter({
    name: `${prefix}cache_hits_total`,
    help: `Items whose output was reused from an identical earlier item (${whose})`,
    registers: [registry],
  });
  const duration = new Histogram({
    name: `${prefix}item_duration_seconds`,
    help: `Time to process one item on a worker, download and upload included (${whose}), by output format`,
    labelNames: ["format"] as const,
    buckets: ITEM_DURATION_BUCKETS,
    registers: [registry],
  });
  // Known label values start at zero, so a rate() over them is defined before the first event.
  for (const state of [ItemState.DONE, ItemState.KEPT_ORIGINAL, ItemState.FAILED])
    items.inc({ state: itemStateLabel(state) }, 0);

  return {
    observe(result) {
      items.inc({ state: itemStateLabel(result.state) });
      const ok = result.state === ItemState.DONE || result.state === ItemState.KEPT_ORIGINAL;
      if (result.state === ItemState.FAILED) errors.inc({ code: errorCodeLabel(result.errorCode) });
      if (result.inputBytes > 0n) bytesIn.inc(Number(result.inputBytes));
      if (ok && result.outputBytes > 0n) bytesOut.inc(Number(result.outputBytes));
      if (result.cacheHit) cacheHits.inc();
      // A result made by the coordinator itself (a missing source, a cancel) was never processed: no duration.
      if (ok || result.durationMs > 0) {
        duration.observe({ format: ok ? formatLabel(result.format) : "none" }, result.durationMs / 1000);
      }
    },
  };
}
