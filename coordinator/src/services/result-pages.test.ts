import { create } from "@bufbuild/protobuf";
import { ItemResultSchema, ItemState } from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { filteredPage } from "./result-pages.js";

/** 100 items; every tenth FAILED. Records which windows were read. */
function job() {
  const reads: [number, number][] = [];
  const read = async (from: number, to: number) => {
    reads.push([from, to]);
    return Array.from({ length: to - from }, (_, i) =>
      create(ItemResultSchema, {
        itemId: String(from + i),
        state: (from + i) % 10 === 9 ? ItemState.FAILED : ItemState.DONE,
      }),
    );
  };
  const failed = (r: { state: ItemState }) => r.state === ItemState.FAILED;
  return { reads, read, failed };
}

describe("a filtered GetResults page", () => {
  it("fills the page from several windows, and goes on right after the last item read", async () => {
    const { reads, read, failed } = job();
    const first = await filteredPage({ count: 100, cursor: 0, size: 3, scanMax: 1_000, read, keep: failed });
    expect(first.page.map((r) => r.itemId)).toEqual(["9", "19", "29"]);
    expect(first.next).toBe(30);
    // Windows never ask for more than the page still needs.
    expect(reads.every(([from, to]) => to - from <= 3)).toBe(true);
    const rest = await filteredPage({ count: 100, cursor: first.next, size: 50, scanMax: 1_000, read, keep: failed });
    expect(rest.page).toHaveLength(7);
    expect(rest.next).toBe(100);
  });

  it("stops after scanMax items with a short page and a cursor to go on from", async () => {
    const { reads, read, failed } = job();
    const capped = await filteredPage({ count: 100, cursor: 0, size: 10, scanMax: 25, read, keep: failed });
    expect(capped.page.map((r) => r.itemId)).toEqual(["9", "19"]);
    expect(capped.next).toBe(25);
    expect(reads.reduce((sum, [from, to]) => sum + to - from, 0)).toBe(25);
    const none = await filteredPage({ count: 100, cursor: 0, size: 10, scanMax: 5, read, keep: failed });
    expect(none).toEqual({ page: [], next: 5 });
  });

  it("without a filter, one window of the page size", async () => {
    const { reads, read } = job();
    const page = await filteredPage({ count: 100, cursor: 95, size: 10, scanMax: 10, read, keep: () => true });
    expect(page.page).toHaveLength(5);
    expect(page.next).toBe(100);
    expect(reads).toEqual([[95, 100]]);
  });
});
