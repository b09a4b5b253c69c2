import { describe, expect, test } from "vitest";
import { formatBytes, formatDuration, formatRate, formatSaving } from "./format.js";

describe("formatBytes", () => {
  test("reads bigint and number sizes in decimal units", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(999)).toBe("999 B");
    expect(formatBytes(1536)).toBe("1.54 KB");
    expect(formatBytes(85_267n)).toBe("85.3 KB");
    expect(formatBytes(791_555n)).toBe("792 KB");
    expect(formatBytes(8_300_000_000n)).toBe("8.30 GB");
  });

  test("a uint64 beyond 2^53 still formats (as an approximation, not an exception)", () => {
    expect(formatBytes(2n ** 60n)).toBe("1152922 TB");
  });

  test("nonsense reads as a dash", () => {
    expect(formatBytes(-1)).toBe("—");
    expect(formatBytes(Number.NaN)).toBe("—");
  });
});

describe("formatSaving", () => {
  test("smaller is a minus, larger a plus, equal zero", () => {
    expect(formatSaving(1000, 260)).toBe("−74%");
    expect(formatSaving(1000n, 1030n)).toBe("+3%");
    // One decimal, as report.csv's saving_percent (81.7) has it.
    expect(formatSaving(1000, 183)).toBe("−81.7%");
    expect(formatSaving(1000, 1000)).toBe("0%");
    expect(formatSaving(1000, 999)).toBe("−0.1%");
  });

  test("no basis, no figure", () => {
    expect(formatSaving(0, 10)).toBe("");
  });
});

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
