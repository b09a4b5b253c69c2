/** One debug line per request: quiet by default (IMGC_LOG_LEVEL=debug shows them). */
import type { Logger } from "@imgc/common";
import type { FastifyPluginAsync, RawServerBase } from "fastify";
import fp from "fastify-plugin";

export interface RequestLogOptions {
  log: Logger;
}

const plugin: FastifyPluginAsync<RequestLogOptions, RawServerBase> = async (app, { log }) => {
  app.addHook("onResponse", async (request, reply) => {
    log.debug(
      {
        method: request.method,
        url: request.url.split("?")[0],
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      "request",
    );
  });
};

/** fp: the hook is the root's, so it sees the requests of every route, registered before or after it. */
export const requestLog = fp(plugin, { name: "imgc-request-log" });
