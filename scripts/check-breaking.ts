/**
 * Fails when the contract (proto/) changed in a way that breaks clients of the released one: `buf breaking`
 * (buf.yaml's `breaking` rules) against proto/released.binpb, the image of the contract as last released.
 *
 * The baseline is a committed file, not git history, so the check runs the same on a shallow CI clone, a
 * tarball or a full checkout. Adding fields, messages, enum values and RPCs passes. A break is declared, not
 * slipped in: `npm run contract:release` rewrites the baseline from proto/ as it is now, and that commit shows
 * the break to its reviewers.
 *
 *   node --import tsx scripts/check-breaking.ts [workspace]        check (default: this repository)
 *   node --import tsx scripts/check-breaking.ts --release          rewrite the baseline
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const baseline = resolve(root, "proto/released.binpb");
// The lockfile's buf, so the check needs no PATH set up by npm.
const bufBin = resolve(root, "node_modules/.bin/buf");

function buf(args: string[], cwd: string): { ok: boolean; output: string } {
  const run = spawnSync(bufBin, args, { cwd, encoding: "utf8" });
  if (run.error) throw run.error;
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}`.trim() };
}

const [arg] = process.argv.slice(2);
if (arg === "--release") {
  const built = buf(["build", "--exclude-source-info", "-o", baseline], root);
  if (!built.ok) {
    console.error(built.output);
    process.exit(1);
  }
  console.log("proto/released.binpb now holds the contract as it is in proto/: commit it with the change.");
} else {
  const workspace = resolve(arg ?? root);
  const checked = buf(["breaking", "--against", baseline], workspace);
  if (!checked.ok) {
    console.error(checked.output);
    console.error(
      "The contract breaks clients of the released one (above). Make the change additive, or declare the " +
        "break: `npm run contract:release` and commit proto/released.binpb with it.",
    );
    process.exit(1);
  }
  console.log("The contract is compatible with the released one (proto/released.binpb).");
}
