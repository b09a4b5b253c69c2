// The engine's speed against plain sharp doing the same work the same way, measured in the same run.
// Usage: npm run bench:engine [-- --quick --rounds 3 --modes jpeg,webp,auto-q80,auto[,avif,png]]
//
// Fixed encodes (jpeg, webp, avif, png, and AUTO at a fixed quality) are held to ≥ 0.95 of the plain loop's
// throughput. AUTO at its default perceptual target is held to ≤ 4× the CPU time of one plain sharp WebP q80
// encode of the same image, image by image.
import { parseArgs } from "node:util";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { CompressionOptionsSchema, ImageFormat, type OutputFormat } from "@imgc/proto";
import sharp, { type Sharp } from "sharp";
import { applyFormat, defaultQuality } from "../worker/src/pipeline/encode.js";
import { compress } from "../worker/src/pipeline/index.js";
import { planOf } from "../worker/src/pipeline/plan.js";
import { engineFigures } from "./lib/engine-quality-figures.js";
import { machineNow, writeResults } from "./lib/results.js";
import { benchLimits, photoCorpus, runInfo } from "./lib/run-info.js";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    quick: { type: "boolean", default: false },
    modes: { type: "string", default: "jpeg,webp,auto-q80,auto" },
    corpus: { type: "string", default: new URL("../../shared/corpus/photos/", import.meta.url).pathname },
  },
});
const rounds = Number(values.rounds);
// The commit and tree as the run starts: what the figures measure, whatever is committed meanwhile.
const run = runInfo();
const machineAtStart = machineNow();
const files = photoCorpus(values.corpus, values.quick === true);
const limits = benchLimits;
type Options = MessageInitShape<typeof CompressionOptionsSchema>;

// The engine's own encoder settings (applyFormat) at a format's default quality.
const encodeLikeTheEngine = (img: Sharp, format: OutputFormat): Promise<Buffer> => {
  const setting = format === ImageFormat.PNG ? ({ lossless: true } as const) : { quality: defaultQuality[format] };
  return applyFormat(img, format, setting, planOf(create(CompressionOptionsSchema, { format }))).toBuffer();
};

// One fixed encode: the engine streams it from the input in one libvips pass; so does the twin. EXIF orientation
// applied, JPEG flattened onto white as the engine does (a no-op for opaque images).
const streamed = (input: Buffer, format: OutputFormat): Promise<Buffer> => {
  let img: Sharp = sharp(input, { autoOrient: true });
  if (format === ImageFormat.JPEG) img = img.flatten({ background: "#ffffff" });
  return encodeLikeTheEngine(img, format);
};

// AUTO at a fixed quality: the engine decodes once to 8-bit sRGB and encodes each candidate from memory; so
// does the twin (issue 16: a twin decoding once per format was handicapped by a second decode).
const decodedOnce = async (input: Buffer): Promise<Buffer> => {
  const { data, info } = await sharp(input, { autoOrient: true })
    .toColourspace("srgb")
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  const raw = { width: info.width, height: info.height, channels: info.channels };
  const alpha = info.channels === 4;
  const outputs: Buffer[] = [];
  for (const format of alpha ? [ImageFormat.WEBP, ImageFormat.PNG] : [ImageFormat.JPEG, ImageFormat.WEBP]) {
    outputs.push(await encodeLikeTheEngine(sharp(data, { raw }), format as OutputFormat));
  }
  return outputs.reduce((a, b) => (b.length < a.length ? b : a));
};

interface Mode {
  readonly name: string;
  readonly what: string;
  readonly engine: (input: Buffer) => Promise<unknown>;
  readonly plain: (input: Buffer) => Promise<unknown>;
  /** What the mode is held to. */
  readonly goal: { kind: "throughput"; min: number } | { kind: "cpu-per-image"; max: number };
}

const engineRun = (options: Options) => {
  const o = create(CompressionOptionsSchema, options);
  return (input: Buffer) => compress(input, o, limits);
};
const single = (name: string, format: OutputFormat): Mode => ({
  name,
  what: `${name} at its default setting (${format === ImageFormat.PNG ? "lossless" : `q${defaultQuality[format]}`}); sharp streams the same encode`,
  engine: engineRun({ format, allowLarger: true }),
  plain: (input) => streamed(input, format),
  goal: { kind: "throughput", min: 0.95 },
});

const modes: Record<string, Mode> = {
  jpeg: single("jpeg", ImageFormat.JPEG),
  webp: single("webp", ImageFormat.WEBP),
  avif: single("avif", ImageFormat.AVIF),
  png: single("png", ImageFormat.PNG),
  "auto-q80": {
    name: "auto-q80",
    what: "AUTO at quality 80 (smaller of JPEG/WebP, WebP/PNG with alpha); sharp decodes once and encodes both",
    engine: engineRun({ allowLarger: true, target: { goal: { case: "quality", value: 80 } } }),
    plain: decodedOnce,
    goal: { kind: "throughput", min: 0.95 },
  },
  auto: {
    name: "auto",
    what: "AUTO default (as good as JPEG q80 by SSIMULACRA 2, fewest bytes, JPEG/WebP/AVIF) against one sharp WebP q80 encode",
    engine: engineRun({ allowLarger: true }),
    plain: (input) => sharp(input, { autoOrient: true }).webp({ quality: 80 }).toBuffer(),
    goal: { kind: "cpu-per-image", max: 4 },
  },
};

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const median = (xs: number[]): number => {
  const s = xs.slice().sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const spread = (xs: number[]) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), rounds: xs });
const r3 = (x: number) => Math.round(x * 1000) / 1000;

interface Timing {
  engine: { wallMs: number; cpuMs: number };
  sharp: { wallMs: number; cpuMs: number };
}

const rows: Record<string, unknown>[] = [];
const verdicts: { mode: string; check: string; ok: boolean }[] = [];
console.log(`${files.length} files × ${rounds} rounds; ${run.machine.cores} cores`);
for (const name of values.modes.split(",").map((m) => m.trim())) {
  const mode = modes[name];
  if (!mode) throw new Error(`Unknown mode ${name}: expected ${Object.keys(modes).join(", ")}`);
  // Warm both paths (JIT, libvips caches), then time them interleaved per image, alternating which goes first,
  // so that load from other processes falls on both alike. Runs are sequential: CPU time is attributable.
  for (const f of files) {
    await mode.plain(f.data);
    await mode.engine(f.data);
  }
  // timings[round][image]
  const timings: Timing[][] = [];
  for (let round = 0; round < rounds; round++) {
    const perImage: Timing[] = [];
    for (const [i, f] of files.entries()) {
      const t: Timing = { engine: { wallMs: 0, cpuMs: 0 }, sharp: { wallMs: 0, cpuMs: 0 } };
      const order = (round + i) % 2 === 0 ? (["engine", "sharp"] as const) : (["sharp", "engine"] as const);
      for (const which of order) {
        const started = performance.now();
        const startedCpu = cpuMs();
        await (which === "engine" ? mode.engine(f.data) : mode.plain(f.data));
        t[which].wallMs += performance.now() - started;
        t[which].cpuMs += cpuMs() - startedCpu;
      }
      perImage.push(t);
    }
    timings.push(perImage);
  }
  const total = (r: Timing[], side: "engine" | "sharp", k: "wallMs" | "cpuMs") => r.reduce((s, t) => s + t[side][k], 0);
  // Throughput ratio per round: sharp time ÷ engine time (above 1: the engine is faster).
  const wallRatio = spread(timings.map((r) => total(r, "sharp", "wallMs") / total(r, "engine", "wallMs")));
  const cpuRatio = spread(timings.map((r) => total(r, "sharp", "cpuMs") / total(r, "engine", "cpuMs")));
  // Per image: engine CPU ÷ plain CPU, median over rounds.
  const perImage = files.map((f, i) => {
    const ratios = timings.map((r) => (r[i] as Timing).engine.cpuMs / (r[i] as Timing).sharp.cpuMs);
    return {
      file: f.name,
      cpuTimes: spread(ratios),
      engineCpuMs: median(timings.map((r) => (r[i] as Timing).engine.cpuMs)),
      sharpCpuMs: median(timings.map((r) => (r[i] as Timing).sharp.cpuMs)),
    };
  });
  const row = {
    mode: mode.name,
    what: mode.what,
    goal: mode.goal,
    images: files.length,
    rounds,
    wallRatio,
    cpuRatio,
    perImage,
  };
  rows.push(row);
  const range = (s: { median: number; min: number; max: number }) =>
    `${s.median.toFixed(3)} (${s.min.toFixed(3)}–${s.max.toFixed(3)})`;
  if (mode.goal.kind === "throughput") {
    const ok = cpuRatio.median >= mode.goal.min;
    verdicts.push({
      mode: mode.name,
      check: `engine/sharp throughput (CPU time) ≥ ${mode.goal.min}: ${range(cpuRatio)}`,
      ok,
    });
    console.log(
      `${mode.name.padEnd(8)} throughput ratio wall ${range(wallRatio)}  CPU ${range(cpuRatio)}  ${mode.what}`,
    );
  } else {
    const worst = Math.max(...perImage.map((p) => p.cpuTimes.median));
    const max = mode.goal.max;
    verdicts.push({
      mode: mode.name,
      check: `engine CPU ≤ ${max}× one sharp WebP q80 encode, every image: worst ${worst.toFixed(2)}×`,
      ok: worst <= max,
    });
    console.log(`${mode.name.padEnd(8)} ${mode.what}`);
    for (const p of perImage)
      console.log(
        `  ${p.file.padEnd(26)} ${range(p.cpuTimes)}×  (engine ${p.engineCpuMs.toFixed(0)} ms, sharp ${p.sharpCpuMs.toFixed(0)} ms CPU)`,
      );
    console.log(
      `  mean ${(perImage.reduce((s, p) => s + p.cpuTimes.median, 0) / perImage.length).toFixed(2)}×, total ${(perImage.reduce((s, p) => s + p.engineCpuMs, 0) / perImage.reduce((s, p) => s + p.sharpCpuMs, 0)).toFixed(2)}×`,
    );
  }
}
for (const v of verdicts) console.log(`${v.ok ? "PASS" : "FAIL"}  ${v.mode}: ${v.check}`);

const out = writeResults({
  bench: "engine",
  command: run.command,
  machine: { ...machineAtStart, sharp: run.machine.sharp, vips: run.machine.vips },
  options: { quick: values.quick, rounds, files: files.map((f) => f.name) },
  figures: engineFigures(rows as unknown as Parameters<typeof engineFigures>[0], verdicts),
  details: JSON.parse(JSON.stringify({ rows, verdicts }, (_, v) => (typeof v === "number" ? r3(v) : v))),
});
console.log(`wrote ${out}`);
if (verdicts.some((v) => !v.ok)) process.exitCode = 1;
