/**
 * The two system programs imgc needs from the OS packages: nats-server (for `npm run up` and the tests) and
 * Chromium (for the browser tests). Installed with apt-get where we may (root on Debian/Ubuntu), explained
 * exactly where we may not. Nothing is downloaded from anywhere else.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { findNatsServer } from "./local-stack.js";

export interface SystemPackage {
  /** The Debian package. */
  apt: string;
  /** What it is for, in the message shown when it cannot be installed. */
  purpose: string;
  /** How to get it elsewhere. */
  elsewhere: string[];
  /** The installed binary, or undefined. */
  find(): string | undefined;
}

export const natsServer: SystemPackage = {
  apt: "nats-server",
  purpose: "NATS JetStream carries the cluster's work",
  elsewhere: [
    "macOS:          brew install nats-server",
    "other systems:  put the nats-server binary from https://github.com/nats-io/nats-server/releases on PATH",
  ],
  find: findNatsServer,
};

export const chromium: SystemPackage = {
  apt: "chromium",
  purpose: "the browser tests drive it headless with playwright-core",
  elsewhere: ["other systems:  install Chromium so that /usr/bin/chromium exists, or set IMGC_CHROMIUM to its path"],
  find: () => [process.env.IMGC_CHROMIUM, "/usr/bin/chromium"].find((candidate) => candidate && existsSync(candidate)),
};

function howTo(pkg: SystemPackage, neededBy: string): string {
  return [
    `${pkg.apt} is not installed, and ${neededBy} needs it (${pkg.purpose}).`,
    `Install it, then run ${neededBy} again:`,
    `  Debian/Ubuntu:  sudo apt-get install -y ${pkg.apt}`,
    ...pkg.elsewhere.map((line) => `  ${line}`),
  ].join("\n");
}

/** The package's binary, installing it with apt-get when running as root; undefined (after saying why) otherwise. */
export function ensureSystemPackage(
  pkg: SystemPackage,
  neededBy: string,
  log: (line: string) => void,
): string | undefined {
  const found = pkg.find();
  if (found) return found;
  const isRoot = process.getuid?.() === 0;
  const hasApt = spawnSync("apt-get", ["--version"], { stdio: "ignore" }).status === 0;
  if (!isRoot || !hasApt) {
    log(howTo(pkg, neededBy));
    return undefined;
  }
  log(`${pkg.apt} is missing: installing it with apt-get install -y ${pkg.apt}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () => spawnSync("apt-get", ["install", "-y", pkg.apt], { stdio: "inherit", env }).status;
  // A fresh machine has no package lists yet.
  if (install() !== 0) {
    spawnSync("apt-get", ["update"], { stdio: "inherit", env });
    install();
  }
  const installed = pkg.find();
  if (!installed) log(howTo(pkg, neededBy));
  return installed;
}
