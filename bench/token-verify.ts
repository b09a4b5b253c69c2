/**
 * The coordinator's cost of authenticating a call: an Ed25519 signature check per token (what a first call
 * costs) against the verifier's memory of tokens it checked already (what every later call of that process
 * costs). Both measured in this run, with their CPU time.
 *
 *   node --import tsx bench/token-verify.ts
 */
import { createTokenVerifier, generateSigningKeys, mintToken } from "@imgc/common";

const calls = 20_000;
const keys = generateSigningKeys();
const tokens = Array.from({ length: calls }, (_, i) => mintToken(keys.privateKey, { role: "worker", sub: `w${i}` }));

function measure(label: string, run: () => void) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  run();
  const wallUs = ((performance.now() - start) * 1000) / calls;
  const used = process.cpuUsage(cpu);
  const cpuUs = (used.user + used.system) / calls;
  console.log(`${label}: ${wallUs.toFixed(2)} µs wall, ${cpuUs.toFixed(2)} µs CPU per call`);
  return cpuUs;
}

// Each token is new to the verifier: a signature check every time (the baseline).
const fresh = createTokenVerifier(keys.publicKey);
const checked = measure("signature checked", () => {
  for (const token of tokens) fresh.verify(token);
});
// One process's token, sent on every call: checked once, then remembered.
const remembered = createTokenVerifier(keys.publicKey);
const same = tokens[0] as string;
remembered.verify(same);
const cached = measure("token remembered", () => {
  for (let i = 0; i < calls; i++) remembered.verify(same);
});
console.log(`ratio remembered / checked (CPU): ${(cached / checked).toFixed(4)}`);
