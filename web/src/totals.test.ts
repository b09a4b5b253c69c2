import { create } from "@bufbuild/protobuf";
import { formatSaving, ItemResultSchema, ItemState } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { applyResult, newRow, type Phase } from "./row.js";
import { remainingMs, totalsOf } from "./totals.js";

function row(phase: Phase, size: number, outputBytes = 0) {
  const r = newRow({ name: `${phase}-${size}.jpg`, size, phase: "queued" });
  const state = { done: ItemState.DONE, kept: ItemState.KEPT_ORIGINAL, failed: ItemState.FAILED }[
    phase as "done" | "kept" | "failed"
  ];
  if (state !== undefined) applyResult(r, create(ItemResultSchema, { state, outputBytes: BigInt(outputBytes) }));
  else r.phase = phase;
  return r;
}

describe("totals", () => {
  test("failed images count in neither Before nor After: one of three worked at −46%, the total says −46%", () => {
    const t = totalsOf([row("done", 100_000, 54_000), row("failed", 2_000_000), row("failed", 3_000_000)]);
    expect(t).toMatchObject({ images: 3, finished: 3, done: 1, failed: 2, before: 100_000, after: 54_000 });
    expect(formatSaving(t.before, t.after)).toBe("−46%");
  });

  test("every image failed: nothing before, nothing after, no saving", () => {
    const t = totalsOf([row("failed", 1000), row("failed", 2000)]);
    expect(t.before).toBe(0);
    expect(t.after).toBe(0);
    expect(formatSaving(t.before, t.after)).toBe("");
  });

  test("a kept original counts its own size on both sides; refused files are apart from failures", () => {
    const t = totalsOf([row("done", 1000, 400), row("kept", 500), row("refused", 99), row("queued", 700)]);
    expect(t).toMatchObject({ images: 3, finished: 2, done: 1, kept: 1, failed: 0, refused: 1 });
    expect(t.before).toBe(1500);
    expect(t.after).toBe(900);
    expect(t.all).toBe(2200);
  });

  test("time left comes from the pace so far, once two images finished", () => {
    const t = totalsOf([row("done", 10, 5), row("done", 10, 5), row("queued", 10), row("queued", 10)]);
    expect(remainingMs(t, 8000)).toBe(8000);
    expect(remainingMs(totalsOf([row("done", 10, 5), row("queued", 10)]), 8000)).toBeUndefined();
  });
});
