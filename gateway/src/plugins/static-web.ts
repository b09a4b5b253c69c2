/** The built web client (IMGC_WEB_DIR) at `/`, when it has been built. */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";

/** Registers the folder if it exists; returns whether it did. */
export async function staticWeb(app: FastifyInstance, webDir: string): Promise<boolean> {
  const root = resolve(webDir);
  if (!existsSync(root)) return false;
  await app.register(fastifyStatic, { root, prefix: "/" });
  return true;
}
