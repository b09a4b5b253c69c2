import { describe, expect, test } from "vitest";
import { pool } from "./pool.js";

describe("pool", () => {
  test("runs every item once, at most `limit` at a time, starting them in order", async () => {
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const done: number[] = [];
    await pool([5, 1, 4, 2, 3, 1, 2], 3, async (ms, index) => {
      started.push(index);
      most = Math.max(most, ++running);
      await new Promise((resolve) => setTimeout(resolve, ms * 5));
      running--;
      done[index] = ms;
    });
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(most).toBe(3);
    expect(done).toEqual([5, 1, 4, 2, 3, 1, 2]);
    await pool([], 3, async () => {
      throw new Error("never called");
    });
  });

  test("the first failure rejects at once, without waiting for the items still running", async () => {
    const started: number[] = [];
    const at = Date.now();
    const failed = pool([0, 1, 2, 3], 2, async (item) => {
      started.push(item);
      if (item === 1) throw new Error(`item ${item}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    });
    await expect(failed).rejects.toThrow("item 1");
    expect(Date.now() - at).toBeLessThan(150);
    expect(started).toEqual([0, 1]);
  });
});
