/** The built web client (IMGC_WEB_DIR) at `/`, when it has been built. */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import fastifyStatic from "@fastify/static";
import type { FastifyPluginAsync } from "fastify";

export interface StaticWebOptions {
  /** The built web client's folder; see `builtWebDir`. */
  root: string;
}

/** The folder, resolved, if the web client has been built there; undefined otherwise. */
export function builtWebDir(webDir: string | undefined): string | undefined {
  if (webDir === undefined) return undefined;
  const root = resolve(webDir);
  return existsSync(root) ? root : undefined;
}

/** Serves the folder at `/` (encapsulated: its wildcard route and reply decorators stay in its own scope). */
export const staticWeb: FastifyPluginAsync<StaticWebOptions> = async (app, { root }) => {
  await app.register(fastifyStatic, { root, prefix: "/" });
};
