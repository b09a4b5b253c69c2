import { describe, expect, it } from "vitest";
import { bisect } from "./bisect.js";

const counted = (predicate: (q: number) => boolean) => {
  const tried: number[] = [];
  return {
    tried,
    passes: async (q: number) => {
      tried.push(q);
      return predicate(q);
    },
  };
};

describe("bisect", () => {
  it("finds the lowest passing quality for every threshold in at most 7 tests", async () => {
    for (let threshold = 1; threshold <= 101; threshold++) {
      const { tried, passes } = counted((q) => q >= threshold);
      const found = await bisect(1, 100, passes, "lowest");
      expect(found).toBe(threshold <= 100 ? threshold : undefined);
      expect(tried.length).toBeLessThanOrEqual(7);
      expect(new Set(tried).size).toBe(tried.length);
    }
  });

  it("finds the highest passing quality for every threshold in at most 7 tests", async () => {
    for (let threshold = 0; threshold <= 100; threshold++) {
      const { tried, passes } = counted((q) => q <= threshold);
      const found = await bisect(1, 100, passes, "highest");
      expect(found).toBe(threshold >= 1 ? threshold : undefined);
      expect(tried.length).toBeLessThanOrEqual(7);
    }
  });

  it("answers only with a value it tested and saw pass, even for a non-monotone test", async () => {
    const { tried, passes } = counted((q) => q % 3 === 0 || q > 90);
    const found = await bisect(1, 100, passes, "lowest");
    expect(found).toBeDefined();
    expect(tried).toContain(found);
    expect((found ?? 0) % 3 === 0 || (found ?? 0) > 90).toBe(true);
  });
});
