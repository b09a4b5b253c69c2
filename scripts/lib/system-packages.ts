/** nats-server from the OS packages when it is missing: installed where we may, explained where we may not. */
import { spawnSync } from "node:child_process";
import { findNatsServer } from "./local-stack.js";

const howTo = `nats-server is not installed, and npm run up needs it (NATS JetStream carries the cluster's work).
Install it, then run npm run up again:
  Debian/Ubuntu:  sudo apt-get install -y nats-server
  macOS:          brew install nats-server
  other systems:  put the nats-server binary from https://github.com/nats-io/nats-server/releases on PATH`;

/** The nats-server binary, installing it with apt-get when running as root; undefined (after saying why) otherwise. */
export function ensureNatsServer(log: (line: string) => void): string | undefined {
  const found = findNatsServer();
  if (found) return found;
  const isRoot = process.getuid?.() === 0;
  const hasApt = spawnSync("apt-get", ["--version"], { stdio: "ignore" }).status === 0;
  if (!isRoot || !hasApt) {
    log(howTo);
    return undefined;
  }
  log("nats-server is missing: installing it with apt-get install -y nats-server");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () => spawnSync("apt-get", ["install", "-y", "nats-server"], { stdio: "inherit", env }).status;
  // A fresh machine has no package lists yet.
  if (install() !== 0) {
    spawnSync("apt-get", ["update"], { stdio: "inherit", env });
    install();
  }
  const installed = findNatsServer();
  if (!installed) log(howTo);
  return installed;
}
