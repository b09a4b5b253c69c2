/**
 * The rows docs/benchmarks.md shows for bench:engine and bench:quality, from what each run keeps: every mode's
 * ratio against sharp with its spread and goal, and every quality mode's bytes and scores against sharp JPEG q80.
 * One place, used by the benchmarks when they write their results (bench/lib/results.ts's shape).
 */
import type { Figure } from "./results.js";

interface Spread {
  median: number;
  min: number;
  max: number;
}
interface EngineRow {
  mode: string;
  what: string;
  images: number;
  rounds: number;
  cpuRatio?: Spread;
  wallRatio?: Spread;
}
interface Check {
  mode?: string;
  check: string;
  ok: boolean;
}
interface QualityMode {
  mode: string;
  bytes: number;
  baselineBytes: number;
  meanScore: number;
  minScore: number;
  belowJpeg: string[];
  minSsim: number;
}

const r = (x: number, digits = 3) => String(Math.round(x * 10 ** digits) / 10 ** digits);
const mark = (ok: boolean) => (ok ? "✔" : "✘");

export function engineFigures(rows: readonly EngineRow[], verdicts: readonly Check[]): Figure[] {
  return rows.map((row) => {
    const verdict = verdicts.find((v) => v.mode === row.mode);
    const spread = row.cpuRatio;
    return {
      figure: `${row.what} (${row.images} images, ${row.rounds} rounds)`,
      value: spread ? `CPU ratio ${r(spread.median)} (${r(spread.min)}–${r(spread.max)})` : "see details",
      baseline: "plain sharp, same work",
      ...(spread ? { ratio: r(spread.median) } : {}),
      ...(verdict ? { goal: `${verdict.check} ${mark(verdict.ok)}` } : {}),
    };
  });
}

export function qualityFigures(summary: readonly QualityMode[], checks: readonly Check[]): Figure[] {
  const rows: Figure[] = summary.map((mode) => ({
    figure: mode.mode,
    value: `${Math.round(mode.bytes / 1024)} KiB; score mean ${r(mode.meanScore, 1)}, lowest ${r(mode.minScore, 1)}; lowest SSIM ${r(mode.minSsim, 4)}; ${mode.belowJpeg.length} image(s) below their JPEG q80`,
    baseline: `sharp JPEG q80: ${Math.round(mode.baselineBytes / 1024)} KiB`,
    ratio: r(mode.bytes / mode.baselineBytes),
  }));
  for (const check of checks)
    rows.push({ figure: check.check, value: check.ok ? "PASS" : "FAIL", goal: mark(check.ok) });
  return rows;
}
