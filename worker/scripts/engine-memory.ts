/**
 * Engine children's memory over time: the whole corpus (photos/, edge/, bad/) through one engine pool, round
 * after round, reading each child's resident memory from /proc after every image. Run once with children
 * never replaced and once with the worker's defaults (IMGC_ENGINE_MAX_ITEMS, IMGC_ENGINE_MAX_RSS_MB), so that
 * both figures come from the same machine in the same run.
 *
 *   node --import tsx worker/scripts/engine-memory.ts [--rounds 10] [--children 1] [--out file.json]
 *
 * Linux only (/proc). Prints, per configuration and round, the largest resident set any child had (VmHWM:
 * its peak, not just its size after the image) and how many children were replaced.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { createLogger } from "@imgc/common";
import { CompressionOptionsSchema } from "@imgc/proto";
import { loadWorkerConfig } from "../src/config.js";
import { createEnginePool } from "../src/engine-pool.js";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "10" },
    children: { type: "string", default: "1" },
    out: { type: "string" },
  },
});
const rounds = Number(values.rounds);
const children = Number(values.children);
const corpus = new URL("../../../shared/corpus/", import.meta.url);
const files = ["photos", "edge", "bad"].flatMap((dir) =>
  readdirSync(new URL(`${dir}/`, corpus))
    .filter((name) => name !== "README.md")
    .sort()
    .map((name) => readFileSync(new URL(`${dir}/${name}`, corpus))),
);
// The worker's settings as this environment gives them (IMGC_ENGINE_MAX_ITEMS, IMGC_ENGINE_MAX_RSS_MB, limits).
const defaults = loadWorkerConfig(process.env);
const limits = {
  maxInputBytes: defaults.maxInputBytes,
  maxPixels: defaults.maxPixels,
  maxFrames: defaults.maxFrames,
  timeoutMs: defaults.itemTimeoutMs,
};
const options = create(CompressionOptionsSchema); // AUTO, the default goal: what most jobs ask
const MiB = 1_048_576;

/** A process's peak resident set (VmHWM), in bytes; 0 when it has gone. */
const peak = (pid: number): number => {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmHWM:\s+(\d+) kB/m);
    return line ? Number(line[1]) * 1024 : 0;
  } catch {
    return 0;
  }
};

interface Round {
  round: number;
  maxPeakMiB: number;
  recycled: number;
  failed: number;
}

async function measure(label: string, maxItemsPerChild: number, maxRssBytes: number): Promise<Round[]> {
  const pool = createEnginePool({
    size: children,
    log: createLogger("engine-memory", "warn"),
    maxItemsPerChild,
    maxRssBytes,
  });
  const out: Round[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      let maxPeak = 0;
      let failed = 0;
      const before = pool.recycled();
      for (const file of files) {
        // Read before the image too: a child replaced after it is gone by the time the image resolves.
        const pids = pool.pids();
        await pool.compress(file, options, limits).catch(() => {
          failed++;
        });
        for (const pid of pids) maxPeak = Math.max(maxPeak, peak(pid));
      }
      for (const pid of pool.pids()) maxPeak = Math.max(maxPeak, peak(pid));
      const row = { round, maxPeakMiB: Math.round(maxPeak / MiB), recycled: pool.recycled() - before, failed };
      out.push(row);
      console.log(`${label}\tround ${round}\tpeak ${row.maxPeakMiB} MiB\treplaced ${row.recycled}\tfailed ${failed}`);
    }
  } finally {
    await pool.close();
  }
  return out;
}

console.log(`${files.length} files × ${rounds} rounds, ${children} child(ren), ${cpus().length} cores`);
const never = await measure("never replaced", 0, 0);
const replaced = await measure(
  `replaced (${defaults.engineMaxItems} images / ${defaults.engineMaxRssMb} MiB)`,
  defaults.engineMaxItems,
  defaults.engineMaxRssMb * MiB,
);
if (values.out) {
  writeFileSync(
    values.out,
    `${JSON.stringify(
      {
        files: files.length,
        rounds,
        children,
        cores: cpus().length,
        engineMaxItems: defaults.engineMaxItems,
        engineMaxRssMb: defaults.engineMaxRssMb,
        never,
        replaced,
      },
      null,
      2,
    )}\n`,
  );
}
