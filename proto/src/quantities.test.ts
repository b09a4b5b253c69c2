import { describe, expect, test } from "vitest";
import { formatBytes, formatExactBytes, formatSaving } from "./quantities.js";

describe("formatBytes", () => {
  test("below 1000, the exact count in words", () => {
    expect(formatBytes(0)).toBe("0 bytes");
    expect(formatBytes(1)).toBe("1 byte");
    expect(formatBytes(200)).toBe("200 bytes");
    expect(formatBytes(512n)).toBe("512 bytes");
    expect(formatBytes(999)).toBe("999 bytes");
  });

  test("decimal units from 1000 on, at most three significant digits, no trailing zeros", () => {
    expect(formatBytes(1000)).toBe("1 KB");
    expect(formatBytes(1536)).toBe("1.54 KB");
    expect(formatBytes(1500)).toBe("1.5 KB");
    expect(formatBytes(50_000)).toBe("50 KB");
    expect(formatBytes(51_200)).toBe("51.2 KB");
    expect(formatBytes(85_267n)).toBe("85.3 KB");
    expect(formatBytes(112_525)).toBe("113 KB");
    expect(formatBytes(791_555n)).toBe("792 KB");
    expect(formatBytes(999_499)).toBe("999 KB");
    expect(formatBytes(1e6)).toBe("1 MB");
    expect(formatBytes(2_500_000)).toBe("2.5 MB");
    expect(formatBytes(67_108_864)).toBe("67.1 MB");
    expect(formatBytes(8_300_000_000n)).toBe("8.3 GB");
    expect(formatBytes(5n * 10n ** 12n)).toBe("5 TB");
  });

  test("a figure that rounds to 1000 moves up a unit", () => {
    expect(formatBytes(999_999)).toBe("1 MB");
    expect(formatBytes(999_950)).toBe("1 MB");
    expect(formatBytes(999_500)).toBe("1 MB");
    expect(formatBytes(999.6)).toBe("1 KB");
    expect(formatBytes(999_999_999)).toBe("1 GB");
    expect(formatBytes(9_995)).toBe("10 KB");
    expect(formatBytes(99_950)).toBe("100 KB");
  });

  test("a rate's fraction of a byte is rounded away", () => {
    expect(formatBytes(523.4)).toBe("523 bytes");
    expect(formatBytes(0.6)).toBe("1 byte");
  });

  test("a uint64 beyond 2^53 still formats (as an approximation, not an exception); TB is the largest unit", () => {
    expect(formatBytes(2n ** 60n)).toBe("1152922 TB");
    expect(formatBytes(999_950n * 10n ** 9n)).toBe("1000 TB");
  });

  test("nonsense reads as a dash", () => {
    expect(formatBytes(-1)).toBe("—");
    expect(formatBytes(-1n)).toBe("—");
    expect(formatBytes(Number.NaN)).toBe("—");
    expect(formatBytes(Number.POSITIVE_INFINITY)).toBe("—");
    expect(formatBytes(10n ** 400n)).toBe("—");
  });
});

describe("formatExactBytes", () => {
  test("a limit keeps its exact bytes and adds the figure people read", () => {
    expect(formatExactBytes(67_108_864)).toBe("67108864 bytes (67.1 MB)");
    expect(formatExactBytes(1000n)).toBe("1000 bytes (1 KB)");
  });

  test("below 1000 the two would say the same, so once", () => {
    expect(formatExactBytes(999)).toBe("999 bytes");
    expect(formatExactBytes(1)).toBe("1 byte");
    expect(formatExactBytes(1n)).toBe("1 byte");
  });
});

describe("formatSaving", () => {
  test("smaller is a true minus (U+2212), larger a plus, equal zero", () => {
    expect(formatSaving(1000, 260)).toBe("\u221274%");
    expect(formatSaving(1000n, 1030n)).toBe("+3%");
    expect(formatSaving(1000, 1000)).toBe("0%");
    expect(formatSaving(1000, 0)).toBe("\u2212100%");
    expect(formatSaving(1000, 3000)).toBe("+200%");
  });

  test("one decimal, as report.csv's saving_percent has it, without a trailing .0", () => {
    expect(formatSaving(1000, 183)).toBe("\u221281.7%");
    expect(formatSaving(112_525n, 25_942n)).toBe("\u221276.9%");
    expect(formatSaving(1000, 999)).toBe("\u22120.1%");
    expect(formatSaving(1000, 1001)).toBe("+0.1%");
    expect(formatSaving(1000, 250)).toBe("\u221275%");
  });

  test("a change under 0.05% reads as none, whatever its sign", () => {
    expect(formatSaving(1_000_000, 999_600)).toBe("0%");
    expect(formatSaving(1_000_000, 1_000_400)).toBe("0%");
  });

  test("no basis, no figure", () => {
    expect(formatSaving(0, 10)).toBe("");
    expect(formatSaving(-5, 10)).toBe("");
    expect(formatSaving(0n, 0n)).toBe("");
    expect(formatSaving(1000, -1)).toBe("");
    expect(formatSaving(Number.NaN, 10)).toBe("");
    expect(formatSaving(1000, Number.NaN)).toBe("");
    expect(formatSaving(Number.POSITIVE_INFINITY, 10)).toBe("");
    expect(formatSaving(1000, Number.POSITIVE_INFINITY)).toBe("");
  });
});
