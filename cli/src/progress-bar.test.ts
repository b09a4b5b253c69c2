import { create } from "@bufbuild/protobuf";
import { JobSchema, JobState } from "@imgc/proto";
import { describe, expect, test } from "vitest";
import { createProgressBar, duration, fit, jobProgress, renderProgress } from "./progress-bar.js";

function sink(isTTY: boolean, columns?: number) {
  const writes: string[] = [];
  return { output: { isTTY, columns, write: (text: string) => writes.push(text) }, writes };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the escape sequences are what is checked
const ANSI = /\x1b\[[0-9;]*m/g;

describe("progress bar", () => {
  test("rate and ETA follow the bytes when there are any, the counts otherwise, from the phase's start", () => {
    const how = { bar: false, color: false, elapsedMs: 4_000, doneAtStart: 0, bytesAtStart: 0 };
    expect(
      renderProgress(
        { phase: "uploading", done: 3, total: 10, unit: "files", bytes: 4 * 1024 ** 2, totalBytes: 10 * 1024 ** 2 },
        how,
      ),
    ).toBe("uploading 3/10 files (30%) · 4.19 MB/10.5 MB · 1.05 MB/s · ETA 6s");
    // A watch that joins a job with 40 items ended counts only what ended since: 20 in 4 s.
    expect(
      renderProgress(
        { phase: "compressing", done: 60, total: 100, unit: "items", note: "2 failed" },
        { ...how, doneAtStart: 40 },
      ),
    ).toBe("compressing 60/100 items (60%) · 5.0 items/s · ETA 8s · 2 failed");
    // Under a second of history there is no rate, and nothing left means no ETA.
    expect(renderProgress({ phase: "x", done: 1, total: 2, unit: "files" }, { ...how, elapsedMs: 500 })).toBe(
      "x 1/2 files (50%)",
    );
    expect(renderProgress({ phase: "x", done: 2, total: 2, unit: "files" }, how)).toBe(
      "x 2/2 files (100%) · 0.5 files/s",
    );
  });

  test("a bar on a terminal, green unless NO_COLOR is set", () => {
    const how = { bar: true, color: true, elapsedMs: 0, doneAtStart: 0, bytesAtStart: 0 };
    const line = renderProgress({ phase: "up", done: 1, total: 4, unit: "files" }, how);
    expect(line).toBe(`up \x1b[32m${"█".repeat(6)}\x1b[2m${"░".repeat(18)}\x1b[0m 1/4 files (25%)`);
    expect(renderProgress({ phase: "up", done: 1, total: 4, unit: "files" }, { ...how, color: false })).toBe(
      `up ${"█".repeat(6)}${"░".repeat(18)} 1/4 files (25%)`,
    );

    for (const [env, coloured] of [
      [{}, true],
      [{ NO_COLOR: "1" }, false],
      [{ NO_COLOR: "" }, true],
    ] as const) {
      const { output, writes } = sink(true);
      createProgressBar(output, env, () => 0).update({ phase: "up", done: 1, total: 4, unit: "files" });
      expect(ANSI.test(writes.join("").replace("\r\x1b[2K", "")), JSON.stringify(env)).toBe(coloured);
      ANSI.lastIndex = 0;
    }
  });

  test("not a terminal: plain lines without bar or colour, at most one a second, then the final state", () => {
    const { output, writes } = sink(false);
    let now = 0;
    const bar = createProgressBar(output, {}, () => now);
    bar.update({ phase: "uploading", done: 0, total: 3, unit: "files" });
    now = 500;
    bar.update({ phase: "uploading", done: 1, total: 3, unit: "files" });
    now = 2_000;
    bar.update({ phase: "uploading", done: 2, total: 3, unit: "files" });
    now = 2_100;
    bar.update({ phase: "uploading", done: 3, total: 3, unit: "files" });
    bar.finish();
    expect(writes).toEqual([
      "uploading 0/3 files (0%)\n",
      "uploading 2/3 files (66%) · 1.0 files/s · ETA 1s\n",
      "uploading 3/3 files (100%) · 1.4 files/s\n",
    ]);
  });

  test("on a terminal, redrawn in place at most every 100 ms, always at the end, cut to the width", () => {
    const { output, writes } = sink(true, 30);
    let now = 0;
    const bar = createProgressBar(output, { NO_COLOR: "1" }, () => now);
    bar.update({ phase: "up", done: 0, total: 2, unit: "files" });
    now = 50;
    bar.update({ phase: "up", done: 1, total: 2, unit: "files" }); // too soon: skipped
    now = 60;
    bar.update({ phase: "up", done: 2, total: 2, unit: "files" }); // complete: drawn
    bar.finish();
    expect(writes).toHaveLength(3);
    for (const write of writes) {
      expect(write.startsWith("\r\x1b[2K")).toBe(true);
      expect(write.replace("\r\x1b[2K", "").replace("\n", "").length).toBeLessThanOrEqual(29);
    }
    expect(writes[1]).toContain("█".repeat(24));
    expect(writes[2]?.endsWith("\n")).toBe(true);
  });

  test("fit cuts visible characters only and resets the colour it cut", () => {
    expect(fit("abcdefghijklmnop", 12)).toBe("abcdefghijk");
    expect(fit("\x1b[32mabcdefghijklmnop\x1b[0m", 12)).toBe("\x1b[32mabcdefghijk\x1b[0m");
    expect(fit("short", 80)).toBe("short");
    expect(fit("no width known", undefined)).toBe("no width known");
  });

  test("a job's progress: items ended of all, failures, running items and bytes", () => {
    const job = create(JobSchema, {
      state: JobState.RUNNING,
      counts: { total: 10, done: 5, keptOriginal: 1, failed: 1, running: 2, pending: 1 },
      bytesIn: 2048n,
      bytesOut: 1024n,
    });
    expect(jobProgress(job)).toEqual({
      phase: "compressing",
      done: 7,
      total: 10,
      unit: "items",
      note: "1 failed · 2 running · 2.05 KB → 1.02 KB (−50%)",
    });
    expect(jobProgress(create(JobSchema, {}))).toEqual({ phase: "compressing", done: 0, total: 0, unit: "items" });
  });

  test("durations", () => {
    expect([duration(400), duration(42_000), duration(75_000), duration(7_500_000)]).toEqual([
      "0s",
      "42s",
      "1m15s",
      "2h05m",
    ]);
  });
});
