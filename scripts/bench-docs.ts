/**
 * Regenerates every benchmark table in the docs from the kept results (bench/results/<name>.json, written by
 * bench/lib/results.ts), so that no figure in the docs is typed by hand. A table sits between two markers:
 *
 *   <!-- bench:cluster -->
 *   …generated…
 *   <!-- /bench:cluster -->
 *
 * Each table says the exact command, commit, machine and date that produced it. A results file not kept (yet)
 * is no error: its table says which command would make it.
 *
 *   npm run bench:docs            rewrite the docs in place
 *   npm run bench:docs -- --check exit 1 if a doc is not what the kept results give (for CI)
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import type { BenchResults, Figure } from "../bench/lib/results.js";

const repoRoot = new URL("../", import.meta.url).pathname;
const resultsDir = path.join(repoRoot, "bench/results");
/** The documents that may hold generated tables. */
const documents = [
  "README.md",
  "bench/README-quality.md",
  ...readdirSync(path.join(repoRoot, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];

const { values } = parseArgs({ options: { check: { type: "boolean", default: false } } });

const cell = (text: string | undefined) => (text ?? "").replaceAll("|", "\\|").replaceAll("\n", " ");

/** The problems that make a results file unusable, or none. */
function shapeProblems(name: string, data: Partial<BenchResults>): string[] {
  const problems: string[] = [];
  for (const field of ["bench", "command", "date", "commit"] as const) {
    if (typeof data[field] !== "string" || data[field] === "") problems.push(`${name}: "${field}" is missing`);
  }
  if (typeof data.machine?.cores !== "number") problems.push(`${name}: "machine.cores" is missing`);
  if (!Array.isArray(data.figures)) problems.push(`${name}: "figures" is not a list`);
  else {
    data.figures.forEach((figure: Partial<Figure>, at) => {
      if (typeof figure.figure !== "string" || typeof figure.value !== "string") {
        problems.push(`${name}: figures[${at}] needs a "figure" and a "value" string`);
      }
    });
  }
  return problems;
}

function table(figures: readonly Figure[]): string[] {
  const all: { title: string; pick: (f: Figure) => string | undefined }[] = [
    { title: "figure", pick: (f) => f.figure },
    { title: "imgc", pick: (f) => f.value },
    { title: "baseline", pick: (f) => f.baseline },
    { title: "ratio", pick: (f) => f.ratio },
    { title: "goal", pick: (f) => f.goal },
  ];
  const columns = all.filter((column, at) => at < 2 || figures.some((f) => column.pick(f)));
  return [
    `| ${columns.map((c) => c.title).join(" | ")} |`,
    `| ${columns.map(() => "---").join(" | ")} |`,
    ...figures.map((f) => `| ${columns.map((c) => cell(c.pick(f))).join(" | ")} |`),
  ];
}

/** What writes each results file, for a table whose file is not kept yet. */
const producers: Record<string, string> = {
  faults: "IMGC_KEEP_FIGURES=1 npx vitest run --project integration tests/faults",
};

function render(name: string): string[] {
  const file = path.join(resultsDir, `${name}.json`);
  if (!existsSync(file)) {
    const producer = producers[name] ?? `npm run bench:${name}`;
    return [`_No results kept yet: \`${producer}\` writes bench/results/${name}.json, then \`npm run bench:docs\`._`];
  }
  const data = JSON.parse(readFileSync(file, "utf8")) as BenchResults;
  const problems = shapeProblems(`bench/results/${name}.json`, data);
  if (problems.length > 0) throw new Error(problems.join("\n"));
  const m = data.machine;
  const load = `load average ${m.loadAverage?.start?.[0] ?? "?"} at the start, ${m.loadAverage?.end?.[0] ?? "?"} at the end`;
  const commit = data.commit.replace(/^([0-9a-f]{12})[0-9a-f]*/, "$1");
  return [
    `Produced by \`${data.command}\` on ${data.date.slice(0, 16).replace("T", " ")} UTC at commit \`${commit}\`, ` +
      `on ${m.cores} cores (${m.model}), ${m.memoryGiB} GiB, Node ${m.node}, ${load}; ` +
      `kept in [bench/results/${name}.json](${path.relative(repoRoot, file)}).`,
    "",
    ...table(data.figures),
  ];
}

const marker = /<!-- bench:([a-z0-9-]+) -->\n[\s\S]*?<!-- \/bench:\1 -->/g;
let stale = 0;
for (const doc of documents) {
  const where = path.join(repoRoot, doc);
  if (!existsSync(where)) continue;
  const before = readFileSync(where, "utf8");
  const after = before.replace(marker, (_, name: string) => {
    // Links are relative to the document, not the repository.
    const lines = render(name).map((line) =>
      line.replace(
        /\]\((bench\/results\/[^)]+)\)/,
        (_m, target: string) => `](${path.relative(path.dirname(where), path.join(repoRoot, target))})`,
      ),
    );
    return [`<!-- bench:${name} -->`, ...lines, `<!-- /bench:${name} -->`].join("\n");
  });
  if (after === before) continue;
  stale++;
  if (values.check) console.error(`${doc}: its benchmark tables differ from bench/results (run npm run bench:docs)`);
  else {
    writeFileSync(where, after);
    console.log(`${doc}: tables regenerated`);
  }
}
if (values.check && stale > 0) process.exit(1);
