/**
 * Presigned S3 URLs (AWS Signature Version 4, query-string form), as minio-js's `presignedUrl` makes them, for
 * path-style endpoints.
 *
 * minio-js derives the day's signing key (four HMACs) again for every URL and builds each through its general
 * request path: about a tenth of the gateway's CPU per upload went there, and a results page presigns two URLs
 * per item. Here the signing key is kept for its day, and a URL costs one SHA-256 and one HMAC.
 * s3-presign.test.ts checks that the URLs are minio-js's, character for character.
 */
import { createHash, createHmac } from "node:crypto";

/** S3's escaping of a URI component: RFC 3986, so `!'()*` too. */
export const s3Escape = (value: string) =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** Signature V4 allows at most seven days. */
export const PRESIGN_MAX_SECONDS = 7 * 24 * 3600;

export interface PresignConfig {
  /** Scheme, host and port the URL points at (http://127.0.0.1:9000); a default port is left out. */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  bucket: string;
}

export interface PresignRequest {
  method: "GET" | "PUT";
  key: string;
  expirySeconds: number;
  /** Extra query parameters the signature covers (response-content-disposition, for example). */
  params?: Readonly<Record<string, string>>;
  /** When the URL is signed; its validity counts from then. */
  now?: Date;
}

export type Presigner = (request: PresignRequest) => string;

export function createPresigner(config: PresignConfig): Presigner {
  const endpoint = new URL(config.endpoint);
  const origin = `${endpoint.protocol}//${endpoint.host}`;
  const host = endpoint.host;
  let signingDay = "";
  let signingKey = Buffer.alloc(0);

  function keyOf(day: string): Buffer {
    if (day !== signingDay) {
      signingKey = [day, config.region, "s3", "aws4_request"].reduce(
        (key, part) => createHmac("sha256", key).update(part).digest(),
        Buffer.from(`AWS4${config.secretKey}`),
      );
      signingDay = day;
    }
    return signingKey;
  }

  return ({ method, key, expirySeconds, params = {}, now = new Date() }) => {
    if (!Number.isInteger(expirySeconds) || expirySeconds < 1 || expirySeconds > PRESIGN_MAX_SECONDS) {
      throw new RangeError(
        `Expected integer between 1 and ${PRESIGN_MAX_SECONDS} for expirySeconds but received ${expirySeconds}`,
      );
    }
    const iso = now.toISOString();
    const day = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}`;
    const stamp = `${day}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
    const scope = `${day}/${config.region}/s3/aws4_request`;
    const query = [
      ...Object.entries(params).map(([name, value]) => `${s3Escape(name)}=${s3Escape(value)}`),
      "X-Amz-Algorithm=AWS4-HMAC-SHA256",
      `X-Amz-Credential=${s3Escape(`${config.accessKey}/${scope}`)}`,
      `X-Amz-Date=${stamp}`,
      `X-Amz-Expires=${expirySeconds}`,
      "X-Amz-SignedHeaders=host",
    ];
    const path = `/${config.bucket}/${s3Escape(key).replace(/%2F/g, "/")}`;
    const canonical = [method, path, [...query].sort().join("&"), `host:${host}`, "", "host", "UNSIGNED-PAYLOAD"];
    const hashed = createHash("sha256").update(canonical.join("\n")).digest("hex");
    const signature = createHmac("sha256", keyOf(day))
      .update(`AWS4-HMAC-SHA256\n${stamp}\n${scope}\n${hashed}`)
      .digest("hex");
    return `${origin}${path}?${query.join("&")}&X-Amz-Signature=${signature}`;
  };
}
