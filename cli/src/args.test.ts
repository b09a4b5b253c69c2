import { describe, expect, test } from "vitest";
import { choice, integer, parse, positionals, UsageError } from "./args.js";

function usage(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  throw new Error("expected a usage error");
}

describe("argument parsing", () => {
  test("integer validates range and shape in the sharp style", () => {
    expect(integer("80", "--quality", 1, 100)).toBe(80);
    expect(integer(undefined, "--quality", 1, 100)).toBeUndefined();
    expect(usage(() => integer("120", "--quality", 1, 100))).toBe(
      "Expected integer between 1 and 100 for --quality but received 120",
    );
    expect(usage(() => integer("8.5", "--quality", 1, 100))).toBe(
      "Expected integer between 1 and 100 for --quality but received 8.5",
    );
    expect(usage(() => integer("", "--max-width", 1, 10))).toMatch(/for --max-width but received $/);
  });

  test("choice accepts any case and lists the choices when wrong", () => {
    expect(choice("WEBP", "--format", ["webp", "jpeg"])).toBe("webp");
    expect(usage(() => choice("gif", "--format", ["webp", "jpeg"]))).toBe(
      "Expected one of webp, jpeg for --format but received gif",
    );
  });

  test("unknown options and missing values are usage errors with short messages", () => {
    expect(usage(() => parse(["--nope"], {}))).toBe("unknown option '--nope'");
    expect(usage(() => parse(["--out"], { out: { type: "string" } }))).toMatch(
      /^option '--out <value>' argument missing/,
    );
  });

  test("parse adds --help/-h and --json to every command and keeps positionals", () => {
    const { values, positionals: rest } = parse(["a.jpg", "-h", "--json", "--out", "dir", "b.jpg"], {
      out: { type: "string" },
    });
    expect(values).toEqual({ help: true, json: true, out: "dir" });
    expect(rest).toEqual(["a.jpg", "b.jpg"]);
  });

  test("positionals insists on the exact count", () => {
    expect(positionals(["job-1"], ["job"])).toEqual(["job-1"]);
    expect(usage(() => positionals([], ["job"]))).toBe("missing <job>");
    expect(usage(() => positionals(["a", "b"], ["job"]))).toBe('unexpected argument "b"');
  });

  test("user input in messages is at most a short escaped prefix", () => {
    const long = "x".repeat(5_000);
    expect(usage(() => positionals(["job", long], ["job"]))).toBe(
      `unexpected argument "${"x".repeat(40)}"… (5000 characters)`,
    );
    expect(usage(() => integer(long, "--effort", 1, 10))).toBe(
      `Expected integer between 1 and 10 for --effort but received "${"x".repeat(40)}"… (5000 characters)`,
    );
    expect(usage(() => choice("web\np", "--format", ["webp"]))).toBe(
      'Expected one of webp for --format but received "web\\np"',
    );
  });
});
