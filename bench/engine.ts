// The engine's throughput against a plain sharp loop: the same files, the same encoder settings, the same run.
// Usage: npm run bench:engine [-- --passes 3 --modes jpeg,webp,auto,avif,png]
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { CompressionOptionsSchema, ImageFormat } from "@imgc/proto";
import sharp, { type Sharp } from "sharp";
import { applyFormat, defaultQuality } from "../worker/src/pipeline/encode.js";
import type { OutputFormat } from "../worker/src/pipeline/formats.js";
import { compress } from "../worker/src/pipeline/index.js";
import { planOf } from "../worker/src/pipeline/plan.js";

const { values } = parseArgs({
  options: {
    passes: { type: "string", default: "3" },
    modes: { type: "string", default: "jpeg,webp,auto" },
    corpus: { type: "string", default: new URL("../../shared/corpus/photos/", import.meta.url).pathname },
  },
});
const passes = Number(values.passes);
const files = readdirSync(values.corpus)
  .sort()
  .map((name) => ({ name, data: readFileSync(new URL(name, `file://${values.corpus}`)) }));
const limits = { maxInputBytes: 1e9, maxPixels: 1e9, maxFrames: 1000, timeoutMs: 600_000 };

// What a careful sharp user writes for the same output, in one pipeline, with the engine's own encoder
// settings (applyFormat): EXIF orientation applied, and JPEG flattened onto white as the engine does (a
// no-op for opaque images).
const twin = (input: Buffer, format: OutputFormat): Promise<Buffer> => {
  const options = create(CompressionOptionsSchema, { format });
  let img: Sharp = sharp(input, { autoOrient: true });
  if (format === ImageFormat.JPEG) img = img.flatten({ background: "#ffffff" });
  const setting = format === ImageFormat.PNG ? ({ lossless: true } as const) : { quality: defaultQuality[format] };
  return applyFormat(img, format, setting, planOf(options)).toBuffer();
};

interface Mode {
  readonly name: string;
  readonly what: string;
  readonly engine: (input: Buffer) => Promise<unknown>;
  readonly plain: (input: Buffer) => Promise<unknown>;
}

const single = (name: string, format: OutputFormat): Mode => {
  const options = create(CompressionOptionsSchema, { format, allowLarger: true });
  return {
    name,
    what: `${name} at its default setting (${format === ImageFormat.PNG ? "lossless" : `q${defaultQuality[format]}`})`,
    engine: (input) => compress(input, options, limits),
    plain: (input) => twin(input, format),
  };
};

const modes: Record<string, Mode> = {
  jpeg: single("jpeg", ImageFormat.JPEG),
  webp: single("webp", ImageFormat.WEBP),
  avif: single("avif", ImageFormat.AVIF),
  png: single("png", ImageFormat.PNG),
  // AUTO's default: the smaller of JPEG q80 and WebP q80 (WebP and PNG with alpha). The twin encodes both
  // from the input; the engine decodes once and encodes both from memory.
  auto: {
    name: "auto",
    what: "AUTO default (smaller of JPEG/WebP, or WebP/PNG with alpha)",
    engine: (input) => compress(input, create(CompressionOptionsSchema, { allowLarger: true }), limits),
    plain: async (input) => {
      const alpha = (await sharp(input).metadata()).hasAlpha;
      const formats = alpha ? [ImageFormat.WEBP, ImageFormat.PNG] : [ImageFormat.JPEG, ImageFormat.WEBP];
      const outputs: Buffer[] = [];
      for (const format of formats) outputs.push(await twin(input, format as OutputFormat));
      return outputs.reduce((a, b) => (b.length < a.length ? b : a));
    },
  },
};

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface Row {
  mode: string;
  what: string;
  images: number;
  engine: { wallSeconds: number; cpuSeconds: number; imagesPerSecond: number };
  sharp: { wallSeconds: number; cpuSeconds: number; imagesPerSecond: number };
  /** engine images/s ÷ sharp images/s, wall clock. */
  ratio: number;
  /** The same from CPU time, which load from other processes on a shared machine disturbs far less. */
  cpuRatio: number;
}

const rows: Row[] = [];
console.log(
  `${files.length} files × ${passes} passes; load average ${loadavg()[0]?.toFixed(1)} on ${cpus().length} cores`,
);
for (const name of values.modes.split(",").map((m) => m.trim())) {
  const mode = modes[name];
  if (!mode) throw new Error(`Unknown mode ${name}: expected ${Object.keys(modes).join(", ")}`);
  // Warm both paths (JIT, libvips caches), then time them interleaved per image, alternating which goes first,
  // so that load from other processes falls on both alike. Runs are sequential: CPU time is attributable.
  for (const f of files) {
    await mode.plain(f.data);
    await mode.engine(f.data);
  }
  const wall = { engine: 0, sharp: 0 };
  const cpu = { engine: 0, sharp: 0 };
  for (let pass = 0; pass < passes; pass++) {
    for (const [i, f] of files.entries()) {
      const order = (pass + i) % 2 === 0 ? (["engine", "sharp"] as const) : (["sharp", "engine"] as const);
      for (const which of order) {
        const started = performance.now();
        const startedCpu = cpuMs();
        await (which === "engine" ? mode.engine(f.data) : mode.plain(f.data));
        wall[which] += performance.now() - started;
        cpu[which] += cpuMs() - startedCpu;
      }
    }
  }
  const images = files.length * passes;
  const side = (w: number, c: number) => ({
    wallSeconds: w / 1000,
    cpuSeconds: c / 1000,
    imagesPerSecond: images / (w / 1000),
  });
  const row: Row = {
    mode: mode.name,
    what: mode.what,
    images,
    engine: side(wall.engine, cpu.engine),
    sharp: side(wall.sharp, cpu.sharp),
    ratio: wall.sharp / wall.engine,
    cpuRatio: cpu.sharp / cpu.engine,
  };
  rows.push(row);
  console.log(
    `${row.mode.padEnd(5)} engine ${row.engine.imagesPerSecond.toFixed(2)} img/s   sharp ${row.sharp.imagesPerSecond.toFixed(2)} img/s   ratio ${row.ratio.toFixed(3)}   (CPU-time ratio ${row.cpuRatio.toFixed(3)})   ${row.what}`,
  );
}

const sum = (pick: (r: Row) => number) => rows.reduce((s, r) => s + pick(r), 0);
const ratio = sum((r) => r.sharp.wallSeconds) / sum((r) => r.engine.wallSeconds);
const cpuRatio = sum((r) => r.sharp.cpuSeconds) / sum((r) => r.engine.cpuSeconds);
console.log(
  `overall: engine/sharp images per second ${ratio.toFixed(3)} (CPU time ${cpuRatio.toFixed(3)}) — goal ≥ 0.95: ${ratio >= 0.95 ? "met" : "NOT met"}`,
);
const out = new URL("results/engine.json", import.meta.url);
writeFileSync(
  out,
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        model: cpus()[0]?.model,
        loadAverage: loadavg(),
        node: process.version,
        sharp: sharp.versions.sharp,
        vips: sharp.versions.vips,
      },
      files: files.map((f) => f.name),
      passes,
      rows,
      ratio,
      cpuRatio,
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${out.pathname}`);
