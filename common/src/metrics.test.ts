import { create } from "@bufbuild/protobuf";
import { ErrorCode, ImageFormat, ItemResultSchema, ItemState } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { createItemMetrics, createMetricsRegistry, errorCodeLabel, formatLabel, itemStateLabel } from "./metrics.js";

/** The value of one sample in Prometheus text, or undefined when it is not there. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("metrics", () => {
  test("a registry exposes Node's default process metrics", async () => {
    const text = await createMetricsRegistry().metrics();
    expect(text).toContain("# TYPE process_resident_memory_bytes gauge");
    expect(text).toContain("nodejs_eventloop_lag_seconds");
  });

  test("label values are the enum names", () => {
    expect(formatLabel(ImageFormat.WEBP)).toBe("webp");
    expect(itemStateLabel(ItemState.KEPT_ORIGINAL)).toBe("kept_original");
    expect(errorCodeLabel(ErrorCode.CORRUPT_INPUT)).toBe("CORRUPT_INPUT");
  });

  test("item metrics count states, error codes, bytes and durations by format", async () => {
    const registry = createMetricsRegistry();
    const items = createItemMetrics(registry, "test_", "here");
    expect(sample(await registry.metrics(), 'test_items_total{state="done"}')).toBe(0);

    items.observe(
      create(ItemResultSchema, {
        state: ItemState.DONE,
        format: ImageFormat.WEBP,
        inputBytes: 1000n,
        outputBytes: 300n,
        durationMs: 200,
      }),
    );
    items.observe(
      create(ItemResultSchema, {
        state: ItemState.KEPT_ORIGINAL,
        format: ImageFormat.PNG,
        inputBytes: 50n,
        outputBytes: 50n,
        durationMs: 40,
        cacheHit: true,
      }),
    );
    items.observe(
      create(ItemResultSchema, {
        state: ItemState.FAILED,
        errorCode: ErrorCode.CORRUPT_INPUT,
        inputBytes: 10n,
        durationMs: 5,
      }),
    );
    // A result the coordinator made itself (no worker touched it): counted, but no duration.
    items.observe(create(ItemResultSchema, { state: ItemState.FAILED, errorCode: ErrorCode.SOURCE_NOT_FOUND }));

    const text = await registry.metrics();
    expect(sample(text, 'test_items_total{state="done"}')).toBe(1);
    expect(sample(text, 'test_items_total{state="kept_original"}')).toBe(1);
    expect(sample(text, 'test_items_total{state="failed"}')).toBe(2);
    expect(sample(text, 'test_item_errors_total{code="CORRUPT_INPUT"}')).toBe(1);
    expect(sample(text, 'test_item_errors_total{code="SOURCE_NOT_FOUND"}')).toBe(1);
    expect(sample(text, "test_bytes_in_total")).toBe(1060);
    expect(sample(text, "test_bytes_out_total")).toBe(350);
    expect(sample(text, "test_cache_hits_total")).toBe(1);
    expect(sample(text, 'test_item_duration_seconds_count{format="webp"}')).toBe(1);
    expect(sample(text, 'test_item_duration_seconds_sum{format="webp"}')).toBeCloseTo(0.2);
    expect(sample(text, 'test_item_duration_seconds_bucket{le="0.25",format="webp"}')).toBe(1);
    expect(sample(text, 'test_item_duration_seconds_bucket{le="0.1",format="webp"}')).toBe(0);
    expect(sample(text, 'test_item_duration_seconds_count{format="png"}')).toBe(1);
    expect(sample(text, 'test_item_duration_seconds_count{format="none"}')).toBe(1);
  });
});
