import { create } from "@bufbuild/protobuf";
import { BoxSchema, ErrorCode, ItemResultSchema, ItemState } from "@imgc/proto";
import { describe, expect, it } from "vitest";
import { mergeItem, scaleBox } from "./merge.js";

const compressed = create(ItemResultSchema, {
  itemId: "0",
  state: ItemState.DONE,
  outputKey: "outputs/acme/j/0.webp",
  width: 50,
  height: 100,
  outputBytes: 400n,
  workerId: "w1",
});
const detected = create(ItemResultSchema, {
  itemId: "0",
  state: ItemState.DONE,
  workerId: "d1",
  detection: {
    objects: [{ label: "cup", score: 0.9, sourceBox: { x: 10, y: 20, width: 30, height: 40 } }],
    sourceWidth: 100,
    sourceHeight: 200,
    model: "test",
  },
});
const failed = (code: ErrorCode, message: string) =>
  create(ItemResultSchema, { itemId: "0", state: ItemState.FAILED, errorCode: code, errorMessage: message });

describe("mergeItem", () => {
  it("keeps the compression's result and adds the objects, each box placed on the output", () => {
    const merged = mergeItem(compressed, detected);
    expect(merged.state).toBe(ItemState.DONE);
    expect(merged.outputKey).toBe("outputs/acme/j/0.webp");
    expect(merged.workerId).toBe("w1");
    const [cup] = merged.detection?.objects ?? [];
    expect(cup?.sourceBox).toMatchObject({ x: 10, y: 20, width: 30, height: 40 });
    expect(cup?.box).toMatchObject({ x: 5, y: 10, width: 15, height: 20 });
    // The inputs are not changed.
    expect(detected.detection?.objects[0]?.box).toBeUndefined();
  });

  it("fails the item when detection failed, keeping the output and taking detection's error", () => {
    const merged = mergeItem(compressed, failed(ErrorCode.INTERNAL, "the model could not load"));
    expect(merged).toMatchObject({
      state: ItemState.FAILED,
      errorCode: ErrorCode.INTERNAL,
      errorMessage: "the model could not load",
      outputKey: "outputs/acme/j/0.webp",
    });
    expect(merged.detection).toBeUndefined();
  });

  it("fails the item when compression failed, keeping the objects without output boxes", () => {
    const merged = mergeItem(failed(ErrorCode.CORRUPT_INPUT, "not an image"), detected);
    expect(merged).toMatchObject({ state: ItemState.FAILED, errorCode: ErrorCode.CORRUPT_INPUT });
    expect(merged.detection?.objects[0]?.label).toBe("cup");
    expect(merged.detection?.objects[0]?.box).toBeUndefined();
  });

  it("takes a DETECT-only item as it is, without boxes on an output", () => {
    const merged = mergeItem(undefined, detected);
    expect(merged.state).toBe(ItemState.DONE);
    expect(merged.outputKey).toBe("");
    expect(merged.detection?.objects[0]?.box).toBeUndefined();
  });
});

describe("scaleBox", () => {
  it("scales each axis on its own and keeps the box inside the output", () => {
    expect(scaleBox(create(BoxSchema, { x: 0, y: 0, width: 100, height: 50 }), 100, 100, 10, 20)).toMatchObject({
      x: 0,
      y: 0,
      width: 10,
      height: 10,
    });
    const edge = scaleBox(create(BoxSchema, { x: 95, y: 95, width: 10, height: 10 }), 100, 100, 33, 33);
    expect(edge.x + edge.width).toBeLessThanOrEqual(33);
    expect(edge.y + edge.height).toBeLessThanOrEqual(33);
  });
});
