import { create } from "@bufbuild/protobuf";
import { ItemResultSchema, ItemState } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { applyResult, newRow } from "./row.js";
import { labelChoices, ordered } from "./row-order.js";

function done(name: string, size: number, out: number) {
  const r = newRow({ name, size, phase: "queued" });
  applyResult(r, create(ItemResultSchema, { state: ItemState.DONE, outputBytes: BigInt(out) }));
  return r;
}

describe("row order", () => {
  const a = done("img10.jpg", 1000, 900);
  const b = done("img2.jpg", 3000, 300);
  const failed = newRow({ name: "bad.png", size: 2000, phase: "queued" });
  applyResult(failed, create(ItemResultSchema, { state: ItemState.FAILED }));
  const refused = newRow({ name: "font.ttf", size: 10, phase: "refused" });
  const rows = [a, b, failed, refused];

  test("sorts by name (numbers in order), size and saving; rows without a result sort last by saving", () => {
    expect(ordered(rows, "all", "name").map((r) => r.name)).toEqual(["bad.png", "font.ttf", "img2.jpg", "img10.jpg"]);
    expect(ordered(rows, "all", "size").map((r) => r.name)).toEqual(["img2.jpg", "bad.png", "img10.jpg", "font.ttf"]);
    expect(ordered(rows, "all", "saving").slice(0, 2)).toEqual([b, a]);
    expect(ordered(rows, "all", "added")).toEqual(rows);
  });

  test("filters by outcome; Failed includes files refused before upload", () => {
    expect(ordered(rows, "done", "added")).toEqual([a, b]);
    expect(ordered(rows, "failed", "added")).toEqual([failed, refused]);
    expect(ordered(rows, "kept", "added")).toEqual([]);
  });
});

describe("label filter", () => {
  function found(name: string, ...labels: string[]) {
    const r = newRow({ name, size: 100, phase: "queued" });
    applyResult(
      r,
      create(ItemResultSchema, {
        state: ItemState.DONE,
        detection: { objects: labels.map((label) => ({ label, score: 0.9 })) },
      }),
    );
    return r;
  }
  const cafe = found("cafe.jpg", "person", "cup", "person");
  const bike = found("bike.jpg", "motorcycle", "person");
  const plain = done("plain.jpg", 100, 50);

  test("offers each label found once, A to Z", () => {
    expect(labelChoices([cafe, bike, plain])).toEqual(["cup", "motorcycle", "person"]);
    expect(labelChoices([plain])).toEqual([]);
  });

  test("shows only the rows holding the label, with the outcome filter too; none picked shows all", () => {
    const rows = [cafe, bike, plain];
    expect(ordered(rows, "all", "added", "person")).toEqual([cafe, bike]);
    expect(ordered(rows, "all", "added", "cup")).toEqual([cafe]);
    expect(ordered(rows, "failed", "added", "cup")).toEqual([]);
    expect(ordered(rows, "all", "added", "")).toEqual(rows);
  });
});
