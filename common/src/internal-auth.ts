/**
 * Service credentials of the internal plane: Ed25519-signed tokens.
 *
 * Why tokens rather than mTLS client certificates: a token names a role, a subject and the tenants it may act
 * for in a few readable claims, the coordinator needs only a public key (nothing secret) to check them, one
 * signing key mints every credential without a CA toolchain, and the same bearer header works over grpc-js,
 * Connect and HTTP/2 cleartext alike. TLS (internal-tls.ts) is a separate, optional layer that encrypts the
 * link; the token is what says who is calling.
 *
 * A token is `imgc1.<claims, base64url JSON>.<Ed25519 signature of "imgc1.<claims>", base64url>`.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from "node:crypto";

export const ROLES = ["worker", "gateway", "service", "operator", "coordinator"] as const;
export type Role = (typeof ROLES)[number];

export interface TokenClaims {
  role: Role;
  /** The worker's id, or the service's / operator's name. */
  sub: string;
  /** Role `service`: the tenants it may act for; `["*"]` for any (only when configured so). */
  tenants?: string[];
  /**
   * Role `worker`: a pool token, for workers whose ids are made at start (compose replicas, a Deployment's
   * pods): it acts as any worker id `<sub>-…`, rather than as `sub` alone.
   */
  pool?: boolean;
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** Issued at, seconds since the epoch. */
  iat?: number;
}

const PREFIX = "imgc1";
/** Longer bearer values are refused before any parsing: a token is a few hundred bytes. */
const MAX_TOKEN_LENGTH = 4096;
/** Verified tokens remembered per verifier: far more than a cluster's processes. */
const VERIFIED_CACHE = 4096;
const SUBJECT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

/** Why a token was refused; `message` is short and never quotes the token. */
export class TokenError extends Error {
  override name = "TokenError";
}

export interface SigningKeys {
  /** PEM (SPKI): what the coordinator is given. */
  publicKey: string;
  /** PEM (PKCS#8): what mints tokens; keep it off the cluster. */
  privateKey: string;
}

export function generateSigningKeys(): SigningKeys {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  return {
    publicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
    privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

export interface MintOptions {
  role: Role;
  sub: string;
  tenants?: string[];
  /** Role worker: ids `<sub>-…` rather than `sub` (see TokenClaims.pool). */
  pool?: boolean;
  /** Lifetime in seconds (default one year: these are service credentials, rotated by re-minting). */
  ttlS?: number;
  /** Now, in ms (tests). */
  now?: number;
}

export function mintToken(privateKeyPem: string, options: MintOptions): string {
  if (!ROLES.includes(options.role)) throw new TokenError(`Expected one of ${ROLES.join(", ")} for role`);
  if (!SUBJECT_PATTERN.test(options.sub))
    throw new TokenError("Expected 1 to 128 characters of [A-Za-z0-9._:@-] for sub");
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  const claims: TokenClaims = {
    role: options.role,
    sub: options.sub,
    exp: iat + (options.ttlS ?? 365 * 24 * 3600),
    iat,
  };
  if (options.tenants) claims.tenants = [...options.tenants];
  if (options.pool) claims.pool = true;
  const payload = `${PREFIX}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  const signature = sign(null, Buffer.from(payload), createPrivateKey(privateKeyPem));
  return `${payload}.${signature.toString("base64url")}`;
}

/** Every PEM public key in a text (several keys verify during a rotation). */
export function parsePublicKeys(text: string): KeyObject[] {
  const pems = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? [];
  const keys = pems.map((pem) => createPublicKey(pem));
  for (const key of keys) {
    if (key.asymmetricKeyType !== "ed25519") throw new TokenError("Expected Ed25519 public keys");
  }
  return keys;
}

export interface TokenVerifier {
  /** The claims of a valid token; throws TokenError otherwise. */
  verify(token: string, now?: number): TokenClaims;
}

/** Verifies tokens signed by any of `publicKeys` (PEM text holding one or more keys). */
export function createTokenVerifier(publicKeys: string): TokenVerifier {
  const keys = parsePublicKeys(publicKeys);
  if (keys.length === 0) throw new TokenError("Expected at least one PEM Ed25519 public key");
  // Callers send the same token on every call, and a signature check costs about 0.1 ms of CPU: the claims of
  // tokens already verified are kept (their expiry is still checked on each use). Bounded, oldest out first.
  const verified = new Map<string, TokenClaims>();
  return {
    verify(token, now = Date.now()) {
      const known = verified.get(token);
      if (known) {
        if (known.exp * 1000 <= now) throw new TokenError("token expired");
        return known;
      }
      if (token.length > MAX_TOKEN_LENGTH) throw new TokenError("malformed token");
      const parts = token.split(".");
      if (parts.length !== 3 || parts[0] !== PREFIX) throw new TokenError("malformed token");
      const [, body, signature] = parts as [string, string, string];
      const signed = Buffer.from(`${PREFIX}.${body}`);
      const sig = Buffer.from(signature, "base64url");
      if (!keys.some((key) => verify(null, signed, key, sig))) throw new TokenError("bad token signature");
      const claims = parseClaims(body);
      if (claims.exp * 1000 <= now) throw new TokenError("token expired");
      if (verified.size >= VERIFIED_CACHE) verified.delete(verified.keys().next().value as string);
      verified.set(token, claims);
      return claims;
    },
  };
}

function parseClaims(body: string): TokenClaims {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
  } catch {
    throw new TokenError("malformed token");
  }
  const claims = raw as Partial<TokenClaims>;
  const ok =
    typeof raw === "object" &&
    raw !== null &&
    typeof claims.role === "string" &&
    (ROLES as readonly string[]).includes(claims.role) &&
    typeof claims.sub === "string" &&
    SUBJECT_PATTERN.test(claims.sub) &&
    typeof claims.exp === "number" &&
    (claims.pool === undefined || typeof claims.pool === "boolean") &&
    (claims.tenants === undefined ||
      (Array.isArray(claims.tenants) && claims.tenants.every((t) => typeof t === "string")));
  if (!ok) throw new TokenError("malformed token claims");
  return claims as TokenClaims;
}

/** The bearer value of an `authorization` header, or undefined. */
export function bearerOf(header: string | null | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return match?.[1];
}
