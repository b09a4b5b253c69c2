/**
 * Optional TLS on the coordinator's gRPC port: IMGC_TLS_CERT and IMGC_TLS_KEY on the coordinator (its
 * certificate), IMGC_TLS_CA on its callers (the CA they check that certificate against). Set, every internal
 * gRPC connection is encrypted; the tokens (internal-auth.ts) still say who calls. Client certificates are not
 * asked for: a caller's identity is its token.
 */
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { ConfigError, str } from "./config.js";

export const tlsFields = {
  tlsCa: str("IMGC_TLS_CA", "", "CA certificate file (PEM) that signed the coordinator's gRPC certificate"),
  tlsCert: str("IMGC_TLS_CERT", "", "the coordinator's gRPC certificate file (PEM)"),
  tlsKey: str("IMGC_TLS_KEY", "", "the private key file (PEM) of IMGC_TLS_CERT"),
};

export interface TlsConfig {
  tlsCa: string;
  tlsCert: string;
  tlsKey: string;
}

export interface TlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** The files named by the settings, read once at start; undefined when none is set. Throws ConfigError. */
export function loadTls(config: TlsConfig): TlsFiles | undefined {
  const problems: string[] = [];
  const read = (file: string, env: string) => {
    if (file === "") return undefined;
    try {
      return readFileSync(file);
    } catch {
      problems.push(`Expected a readable file for ${env} but received ${JSON.stringify(file.slice(0, 200))}`);
      return undefined;
    }
  };
  if ((config.tlsCert === "") !== (config.tlsKey === "")) {
    problems.push("Expected both IMGC_TLS_CERT and IMGC_TLS_KEY, or neither");
  }
  const files: TlsFiles = {};
  const ca = read(config.tlsCa, "IMGC_TLS_CA");
  const cert = read(config.tlsCert, "IMGC_TLS_CERT");
  const key = read(config.tlsKey, "IMGC_TLS_KEY");
  if (problems.length > 0) throw new ConfigError(problems);
  if (ca) files.ca = ca;
  if (cert && key) Object.assign(files, { cert, key });
  return ca || cert ? files : undefined;
}

/** The coordinator's server credentials: TLS with its certificate when it has one, else plaintext. */
export function grpcServerCredentials(tls: TlsFiles | undefined): grpc.ServerCredentials {
  if (!tls?.cert || !tls.key) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(null, [{ cert_chain: tls.cert, private_key: tls.key }], false);
}

/**
 * A caller's channel credentials: TLS checked against the CA when one is given, else plaintext.
 * `anyName`: skip the host-name check (a process probing its own port by loopback address).
 */
export function grpcChannelCredentials(tls: TlsFiles | undefined, anyName = false): grpc.ChannelCredentials {
  if (!tls?.ca) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.ca, null, null, anyName ? { checkServerIdentity: () => undefined } : {});
}

/** The URL scheme and Node HTTP/2 options of a Connect gRPC transport to the coordinator. */
export function connectTls(tls: TlsFiles | undefined): { scheme: "http" | "https"; nodeOptions?: { ca: Buffer } } {
  return tls?.ca ? { scheme: "https", nodeOptions: { ca: tls.ca } } : { scheme: "http" };
}
