import type { Plugin } from "vite";

/**
 * Dev server only: a bucket in memory under /__fake-s3/, so the fake cluster's presigned URLs accept real PUTs
 * (with real upload progress) and serve the bytes back for the before/after comparison.
 */
export function fakeS3(): Plugin {
  const objects = new Map<string, { type: string; body: Buffer }>();
  return {
    name: "imgc-fake-s3",
    apply: "serve",
    configureServer(server) {
      server.middlewares.use("/__fake-s3/", (req, res) => {
        const key = decodeURIComponent((req.url ?? "/").split("?")[0] ?? "/");
        if (req.method === "PUT") {
          const chunks: Buffer[] = [];
          req.on("data", (chunk: Buffer) => chunks.push(chunk));
          req.on("end", () => {
            objects.set(key, {
              type: req.headers["content-type"] ?? "application/octet-stream",
              body: Buffer.concat(chunks),
            });
            res.statusCode = 200;
            res.end();
          });
          return;
        }
        const object = objects.get(key);
        if (!object) {
          res.statusCode = 404;
          res.end("not found");
          return;
        }
        res.setHeader("content-type", object.type);
        res.end(object.body);
      });
    },
  };
}
