// Bytes and SSIM per mode over the photo corpus, next to sharp's defaults measured in the same run.
// Usage: npm run bench:quality [-- --target 0.98 --modes ... --avif]
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { CompressionOptionsSchema, ImageFormat } from "@imgc/proto";
import sharp from "sharp";
import { CompressError, compress } from "../worker/src/pipeline/index.js";
import { lumaOf, type Pixels, sampleRects, ssim } from "../worker/src/pipeline/ssim.js";

const { values } = parseArgs({
  options: {
    target: { type: "string", default: "0.98" },
    avif: { type: "boolean", default: false },
    modes: { type: "string" },
    corpus: { type: "string", default: new URL("../../shared/corpus/photos/", import.meta.url).pathname },
  },
});
const target = Number(values.target);
const files = readdirSync(values.corpus)
  .sort()
  .map((name) => ({ name, data: readFileSync(new URL(name, `file://${values.corpus}`)) }));
const limits = { maxInputBytes: 1e9, maxPixels: 1e9, maxFrames: 1000, timeoutMs: 600_000 };

const decode = async (data: Buffer): Promise<Pixels> => {
  const { data: px, info } = await sharp(data, { autoOrient: true })
    .toColourspace("srgb")
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  return { data: px, width: info.width, height: info.height, channels: info.channels };
};

// The engine's own SSIM (luminance, native resolution, a fixed grid of tiles), applied to every mode alike.
const measure = (reference: Pixels, output: Pixels): number => {
  const rects = sampleRects(reference.width, reference.height);
  return rects.reduce((sum, r) => sum + ssim(lumaOf(reference, r), lumaOf(output, r)), 0) / rects.length;
};

type Options = MessageInitShape<typeof CompressionOptionsSchema>;
interface Mode {
  readonly name: string;
  readonly run: (
    input: Buffer,
    baselineJpegBytes: number,
  ) => Promise<{ data: Buffer; format: string; quality?: number }>;
}

const engine = (name: string, options: Options | ((baselineJpegBytes: number) => Options)): Mode => ({
  name,
  run: async (input, baseline) => {
    const o = await compress(
      input,
      create(CompressionOptionsSchema, typeof options === "function" ? options(baseline) : options),
      limits,
    );
    return {
      data: o.data,
      format: `${ImageFormat[o.format]}${o.kind === "kept-original" ? " (original)" : ""}`,
      quality: o.quality,
    };
  },
});

// sharp's defaults, as a user calling it without options gets them: JPEG q80 (alpha flattened onto white, or
// the comparison would measure a black background), WebP q80, AVIF q50; EXIF orientation applied.
const sharpDefault = (name: string, format: "jpeg" | "webp" | "avif"): Mode => ({
  name,
  run: async (input) => {
    let img = sharp(input, { autoOrient: true });
    if (format === "jpeg") img = img.flatten({ background: "#ffffff" });
    return { data: await img.toFormat(format).toBuffer(), format: format.toUpperCase() };
  },
});

const minSsim = { target: { goal: { case: "minSsim" as const, value: target } } };
const allModes: Mode[] = [
  sharpDefault("sharp JPEG q80 (default)", "jpeg"),
  sharpDefault("sharp WebP q80 (default)", "webp"),
  sharpDefault("sharp AVIF q50 (default)", "avif"),
  engine("imgc JPEG q80", { format: ImageFormat.JPEG, allowLarger: true }),
  engine("imgc WebP q80", { format: ImageFormat.WEBP, allowLarger: true }),
  engine("imgc AVIF q50", { format: ImageFormat.AVIF, allowLarger: true }),
  engine("imgc AUTO (default options)", {}),
  engine(`imgc JPEG min-SSIM ${target}`, { format: ImageFormat.JPEG, ...minSsim }),
  engine(`imgc WebP min-SSIM ${target}`, { format: ImageFormat.WEBP, ...minSsim }),
  ...(values.avif ? [engine(`imgc AVIF min-SSIM ${target}`, { format: ImageFormat.AVIF, ...minSsim })] : []),
  engine(`imgc AUTO min-SSIM ${target}`, minSsim),
  engine("imgc AUTO max-bytes ½ × sharp JPEG", (baseline) => ({
    target: { goal: { case: "maxBytes", value: BigInt(Math.floor(baseline / 2)) } },
  })),
];
const wanted = values.modes?.split(",").map((m) => m.trim().toLowerCase());
const modes = allModes.filter((m, i) => i === 0 || !wanted || wanted.some((w) => m.name.toLowerCase().includes(w)));

interface Result {
  file: string;
  bytes: number;
  ssim: number;
  format: string;
  quality?: number;
  ms: number;
  /** The engine's error, for a goal it could not meet (a byte budget under the smallest output). */
  error?: string;
}
const results = new Map<string, Result[]>(modes.map((m) => [m.name, []]));
let inputBytes = 0;
for (const f of files) {
  inputBytes += f.data.length;
  const reference = await decode(f.data);
  let baseline = 0;
  for (const mode of modes) {
    const started = performance.now();
    const out = await mode.run(f.data, baseline).catch((e: unknown) => {
      if (CompressError.isCompressError(e)) return { error: e.message };
      throw e;
    });
    const ms = performance.now() - started;
    if ("error" in out) {
      results.get(mode.name)?.push({ file: f.name, bytes: 0, ssim: 0, format: "-", ms, error: out.error });
      continue;
    }
    if (baseline === 0) baseline = out.data.length; // the first mode is sharp's default JPEG
    const value = measure(reference, await decode(out.data));
    results.get(mode.name)?.push({
      file: f.name,
      bytes: out.data.length,
      ssim: value,
      format: out.format,
      ...(out.quality === undefined ? {} : { quality: out.quality }),
      ms,
    });
  }
  process.stderr.write(`${f.name} done\n`);
}

const baselineRows = results.get(modes[0]?.name ?? "") ?? [];
const summary = modes.map((m) => {
  const all = results.get(m.name) ?? [];
  const rows = all.filter((r) => r.error === undefined);
  const files = new Set(rows.map((r) => r.file));
  return {
    mode: m.name,
    failed: all.length - rows.length,
    // sharp's default JPEG over the same files, so that a mode with unreachable images compares like for like.
    baselineBytes: baselineRows.filter((r) => files.has(r.file)).reduce((s, r) => s + r.bytes, 0),
    bytes: rows.reduce((s, r) => s + r.bytes, 0),
    meanSsim: rows.reduce((s, r) => s + r.ssim, 0) / rows.length,
    minSsim: Math.min(...rows.map((r) => r.ssim)),
    seconds: rows.reduce((s, r) => s + r.ms, 0) / 1000,
  };
});
const jpegDefault = summary[0];
const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
const lines = [
  `${files.length} photos, ${kib(inputBytes)} in. SSIM: mean SSIM (Wang et al., 11×11 Gaussian) on BT.601 luminance at native resolution, sampled over an even grid of 128×128 tiles (≈512×512 px per image).`,
  "",
  "| mode | total bytes | vs sharp JPEG q80 | mean SSIM | lowest SSIM | time (s) |",
  "| --- | ---: | ---: | ---: | ---: | ---: |",
  ...summary.map(
    (s) =>
      `| ${s.mode}${s.failed > 0 ? ` (${s.failed} unreachable, left out)` : ""} | ${kib(s.bytes)} | ${(((s.bytes - s.baselineBytes) / s.baselineBytes) * 100).toFixed(1)}% | ${s.meanSsim.toFixed(4)} | ${s.minSsim.toFixed(4)} | ${s.seconds.toFixed(1)} |`,
  ),
];
for (const [mode, rows] of results) {
  for (const r of rows) if (r.error) lines.push(`- ${mode}, ${r.file}: ${r.error}`);
}
console.log(lines.join("\n"));

const auto = summary.find((s) => s.mode === `imgc AUTO min-SSIM ${target}`);
const checks =
  auto && jpegDefault
    ? [
        { check: `every image at or above SSIM ${target} in AUTO min-SSIM`, ok: auto.minSsim >= target },
        { check: "AUTO min-SSIM uses fewer bytes than sharp's default JPEG", ok: auto.bytes < jpegDefault.bytes },
        {
          check: "AUTO min-SSIM mean SSIM is at least sharp's default JPEG's",
          ok: auto.meanSsim >= jpegDefault.meanSsim,
        },
      ]
    : [];
for (const c of checks) console.log(`${c.ok ? "PASS" : "FAIL"}  ${c.check}`);

const out = new URL("results/quality.json", import.meta.url);
writeFileSync(
  out,
  `${JSON.stringify({ date: new Date().toISOString(), target, sharp: sharp.versions, summary, checks, perImage: Object.fromEntries(results) }, null, 2)}\n`,
);
console.log(`\nwrote ${out.pathname}`);
if (checks.some((c) => !c.ok)) process.exitCode = 1;
