/**
 * Builds JavaScript to ship, with esbuild: the workspaces' own TypeScript (@imgc/proto, @imgc/common and the
 * entry's workspace) is bundled in; npm packages stay imports, resolved from the runtime's node_modules,
 * unless `inline` asks for every one of them too (the standalone CLI, which must install with no registry).
 *
 *   node --import tsx scripts/bundle.ts services   # coordinator/dist, worker/dist, gateway/dist (the image)
 *   node --import tsx scripts/bundle.ts cli        # cli/dist/main.js (npm pack -w cli)
 */
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";

export const repoRoot = fileURLToPath(new URL("..", import.meta.url));

/** The Node version the shipped code targets: the image's (Dockerfile) and `engines`. */
export const NODE_TARGET = "node22";

export interface BundleOptions {
  /** Entry files relative to the repository; each comes out as `<outdir>/<its base name>.js`. */
  entries: string[];
  outdir: string;
  /** Bundle npm packages too, leaving only node: builtins as imports. */
  inline?: boolean;
  /** Write source maps beside the output (the services: readable stack traces with --enable-source-maps). */
  sourcemap?: boolean;
}

/** npm packages stay imports; the workspaces (@imgc/*) are TypeScript sources and are always bundled. */
const npmPackagesExternal: Plugin = {
  name: "npm-packages-external",
  setup(plugin) {
    plugin.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith("@imgc/") || path.isAbsolute(args.path) ? undefined : { path: args.path, external: true },
    );
  },
};

/**
 * The worker forks its engine children from "./engine-child.ts" and "./detect/detect-child.ts" beside its own
 * module; bundled, they are "engine-child.js" and "detect/detect-child.js" beside main.js. Rewriting those
 * literals keeps the source runnable through tsx.
 */
const CHILD_MODULES = ['"./engine-child.ts"', '"./detect/detect-child.ts"'];
const childModuleAsJs: Plugin = {
  name: "child-module-as-js",
  setup(plugin) {
    plugin.onLoad({ filter: /worker[\\/]src[\\/]engine-pool\.ts$/ }, async (args) => {
      const { readFile } = await import("node:fs/promises");
      let source = await readFile(args.path, "utf8");
      for (const literal of CHILD_MODULES) {
        if (!source.includes(literal)) throw new Error(`${args.path}: the child module ${literal} moved`);
        source = source.replace(literal, literal.replace(/\.ts"$/, '.js"'));
      }
      return { contents: source, loader: "ts" };
    });
  },
};

export async function bundle(options: BundleOptions): Promise<void> {
  const outdir = path.resolve(repoRoot, options.outdir);
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const result = await build({
    absWorkingDir: repoRoot,
    entryPoints: options.entries,
    outdir,
    bundle: true,
    platform: "node",
    format: "esm",
    target: NODE_TARGET,
    sourcemap: options.sourcemap ? "linked" : false,
    // Bundled CommonJS packages call require(); give the ES module one.
    banner: {
      js: 'import { createRequire as __imgcCreateRequire } from "node:module";\nconst require = __imgcCreateRequire(import.meta.url);',
    },
    plugins: options.inline ? [childModuleAsJs] : [npmPackagesExternal, childModuleAsJs],
    logLevel: "warning",
  });
  if (result.errors.length > 0) throw new Error(`esbuild failed for ${options.entries.join(", ")}`);
}

/** The three services, each to <service>/dist/main.js (the worker with its engine children beside it). */
export async function bundleServices(): Promise<void> {
  await bundle({ entries: ["coordinator/src/main.ts"], outdir: "coordinator/dist", sourcemap: true });
  await bundle({
    entries: ["worker/src/main.ts", "worker/src/engine-child.ts", "worker/src/detect/detect-child.ts"],
    outdir: "worker/dist",
    sourcemap: true,
  });
  await bundle({ entries: ["gateway/src/main.ts"], outdir: "gateway/dist", sourcemap: true });
}

/** The CLI as one file, cli/dist/main.js, with every dependency inside: `npm i -g` of its tarball needs no registry. */
export async function bundleCli(): Promise<void> {
  await bundle({ entries: ["cli/src/main.ts"], outdir: "cli/dist", inline: true });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const what = process.argv[2];
  if (what === "services") await bundleServices();
  else if (what === "cli") await bundleCli();
  else {
    console.error("usage: bundle.ts services|cli");
    process.exit(2);
  }
}
