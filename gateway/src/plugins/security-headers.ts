/**
 * Browser hardening for every answer of the HTTP/1.1 port (the web client, the API, downloads): a Content
 * Security Policy, no framing, no MIME sniffing, no referrer. Set by hand rather than with @fastify/helmet:
 * five fixed headers do not earn a dependency.
 *
 * The web client PUTs uploads to presigned S3 URLs and shows results from them, so the S3 origin browsers
 * see (IMGC_S3_PUBLIC_ENDPOINT) is allowed for connect-src and img-src, and nothing else outside the gateway.
 */
import type { FastifyPluginAsync } from "fastify";
import fp from "fastify-plugin";

export function contentSecurityPolicy(s3Origin: string | undefined): string {
  const s3 = s3Origin ? ` ${s3Origin}` : "";
  return [
    "default-src 'self'",
    `connect-src 'self'${s3}`,
    `img-src 'self' data: blob:${s3}`,
    "style-src 'self' 'unsafe-inline'",
    "script-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** The origin of an endpoint URL, or undefined when it is empty or not a URL. */
export function originOf(endpoint: string): string | undefined {
  try {
    return endpoint ? new URL(endpoint).origin : undefined;
  } catch {
    return undefined;
  }
}

export interface SecurityHeadersOptions {
  /** The S3 origin browsers are sent to (presigned URLs). */
  s3Origin?: string | undefined;
}

const plugin: FastifyPluginAsync<SecurityHeadersOptions> = async (app, { s3Origin }) => {
  const csp = contentSecurityPolicy(s3Origin);
  app.addHook("onSend", async (_request, reply) => {
    reply
      .header("content-security-policy", csp)
      .header("x-frame-options", "DENY")
      .header("x-content-type-options", "nosniff")
      .header("referrer-policy", "no-referrer")
      .header("cross-origin-opener-policy", "same-origin");
  });
};

/** Sets the headers on every answer of the instance it is registered on (fp: the hook is the root's). */
export const securityHeaders = fp(plugin, { name: "imgc-security-headers" });
