import { generateKeyPairSync, sign } from "node:crypto";
import { describe, expect, test } from "vitest";
import { bearerOf, createTokenVerifier, generateSigningKeys, mintToken, TokenError } from "./internal-auth.js";

const keys = generateSigningKeys();
const verifier = createTokenVerifier(keys.publicKey);
const now = Date.parse("2026-01-01T00:00:00Z");

describe("internal tokens", () => {
  test("a minted token verifies to its claims", () => {
    const token = mintToken(keys.privateKey, { role: "service", sub: "billing", tenants: ["acme"], ttlS: 60, now });
    expect(verifier.verify(token, now + 59_000)).toMatchObject({ role: "service", sub: "billing", tenants: ["acme"] });
  });

  test("an expired token is refused, also one verified while it was valid", () => {
    const token = mintToken(keys.privateKey, { role: "worker", sub: "w1", ttlS: 60, now });
    expect(() => verifier.verify(token, now + 60_000)).toThrow(new TokenError("token expired"));
    const again = mintToken(keys.privateKey, { role: "worker", sub: "w2", ttlS: 60, now });
    expect(verifier.verify(again, now).sub).toBe("w2");
    expect(() => verifier.verify(again, now + 60_000)).toThrow(new TokenError("token expired"));
  });

  test("a token signed by another key is refused, and so is one whose claims were edited", () => {
    const other = generateSigningKeys();
    const foreign = mintToken(other.privateKey, { role: "operator", sub: "op", now });
    expect(() => verifier.verify(foreign, now)).toThrow(new TokenError("bad token signature"));
    const [prefix, , signature] = mintToken(keys.privateKey, { role: "worker", sub: "w1", now }).split(".");
    const forged = Buffer.from(JSON.stringify({ role: "coordinator", sub: "w1", exp: now / 1000 + 3600 })).toString(
      "base64url",
    );
    expect(() => verifier.verify(`${prefix}.${forged}.${signature}`, now)).toThrow(
      new TokenError("bad token signature"),
    );
  });

  test("malformed tokens and validly signed nonsense claims are refused without quoting the token", () => {
    for (const bad of ["", "abc", "imgc1.a.b.c", "jwt.x.y", `imgc1.${"A".repeat(5000)}.x`]) {
      expect(() => verifier.verify(bad, now)).toThrow(TokenError);
    }
    const body = `imgc1.${Buffer.from(JSON.stringify({ role: "root", sub: "x", exp: 9e9 })).toString("base64url")}`;
    const signed = `${body}.${sign(null, Buffer.from(body), keys.privateKey).toString("base64url")}`;
    expect(() => verifier.verify(signed, now)).toThrow(new TokenError("malformed token claims"));
  });

  test("during a rotation both the old and the new public key verify", () => {
    const next = generateSigningKeys();
    const both = createTokenVerifier(`${keys.publicKey}\n${next.publicKey}`);
    expect(both.verify(mintToken(keys.privateKey, { role: "worker", sub: "a", now }), now).sub).toBe("a");
    expect(both.verify(mintToken(next.privateKey, { role: "worker", sub: "b", now }), now).sub).toBe("b");
  });

  test("only Ed25519 public keys are taken", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ type: "spki", format: "pem" });
    expect(() => createTokenVerifier(rsa.toString())).toThrow(TokenError);
    expect(() => createTokenVerifier("no key here")).toThrow(TokenError);
  });

  test("minting refuses an unknown role or a subject that is not a plain name", () => {
    expect(() => mintToken(keys.privateKey, { role: "root" as "worker", sub: "x" })).toThrow(TokenError);
    expect(() => mintToken(keys.privateKey, { role: "worker", sub: "a b" })).toThrow(TokenError);
  });

  test("bearerOf reads `Bearer <token>` only", () => {
    expect(bearerOf("Bearer abc.def")).toBe("abc.def");
    expect(bearerOf("bearer  abc ")).toBe("abc");
    expect(bearerOf("Basic abc")).toBeUndefined();
    expect(bearerOf(null)).toBeUndefined();
  });
});
