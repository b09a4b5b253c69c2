#!/usr/bin/env node
// The `imgc` command. Installed from the packed tarball (npm pack -w cli), it runs the bundle in dist/, which
// holds every dependency. In the repository, where src/ is, it runs the TypeScript through tsx (resolved from
// here, not from the caller's directory), so it never runs a stale build.
import { existsSync } from "node:fs";

const source = new URL("../src/main.ts", import.meta.url);
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import(source.href);
} else {
  await import("../dist/main.js");
}
