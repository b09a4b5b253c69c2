/**
 * `PUT /v1/uploads/:name` with a Content-Length: the curl way to upload one image.
 *
 *   curl -T photo.jpg -H "Authorization: Bearer $KEY" http://127.0.0.1:8080/v1/uploads/photo.jpg
 *
 * The body is never parsed nor buffered: the request stream goes straight to S3. Answers {key, size}; the
 * key is what SubmitJob takes as a source.
 */
import type { FastifyInstance } from "fastify";
import { type Authenticate, requireTenant } from "../plugins/auth.js";
import { HttpError } from "../plugins/errors.js";
import type { Uploads } from "../services/uploads.js";

export interface UploadRoutesDeps {
  uploads: Uploads;
  authenticate: Authenticate;
}

export function uploadRoutes(app: FastifyInstance, { uploads, authenticate }: UploadRoutesDeps): void {
  app.register(async (scope) => {
    requireTenant(scope, authenticate);
    // Every content type is passed through untouched: the handler streams the raw request.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_request, _payload, done) => done(null));
    // A refused upload leaves its body unread: close the connection rather than drain megabytes.
    scope.addHook("onSend", async (request, reply) => {
      if (reply.statusCode >= 400 && !request.raw.complete) reply.header("connection", "close");
    });

    scope.put<{ Params: { name: string } }>("/v1/uploads/:name", async (request, reply) => {
      const length = request.headers["content-length"];
      if (length === undefined || !/^\d+$/.test(length)) {
        throw new HttpError(
          411,
          "length_required",
          "a Content-Length header is required (chunked uploads are not accepted)",
        );
      }
      // Rejected here, before a single byte of the body is read.
      uploads.check(request.params.name, Number(length));
      const stored = await uploads.put(
        request.tenant,
        { name: request.params.name, size: Number(length), contentType: request.headers["content-type"] ?? "" },
        request.raw,
      );
      return reply.send(stored);
    });
  });
}
