#!/usr/bin/env node
// The installed `imgc` command: loads the TypeScript entry through tsx, resolved from here rather than from
// the caller's working directory, so it runs from anywhere.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
