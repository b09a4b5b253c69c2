import { describe, expect, test } from "vitest";
import { formatDuration, formatRate } from "./format.js";

describe("formatDuration and formatRate", () => {
  test("durations", () => {
    expect(formatDuration(0)).toBe("0:00");
    expect(formatDuration(75_000)).toBe("1:15");
    expect(formatDuration(3_725_000)).toBe("1:02:05");
  });

  test("rates keep two to three significant digits", () => {
    expect(formatRate(0)).toBe("0");
    expect(formatRate(0.5)).toBe("0.50");
    expect(formatRate(3.14)).toBe("3.1");
    expect(formatRate(12.6)).toBe("13");
  });
});
