import { expect, test } from "vitest";
import { brief, quoted } from "./brief.js";

test("a short value is quoted whole, escaped", () => {
  expect(quoted("abc")).toBe('"abc"');
  expect(quoted('a"b\nc\u0000')).toBe('"a\\"b\\nc\\u0000"');
});

test("a long value is cut to a short prefix", () => {
  const huge = "x".repeat(100_000);
  expect(quoted(huge)).toBe(`"${"x".repeat(64)}…"`);
  expect(brief(huge, 8)).toBe("xxxxxxxx…");
  // The cut never passes the limit, nor splits an escape or a character made of two UTF-16 units.
  expect(brief("\n".repeat(1000), 9)).toBe("\\n\\n\\n\\n…");
  expect(brief("😀".repeat(10), 3)).toBe("😀…");
  expect(quoted(huge).length).toBeLessThan(100);
});
