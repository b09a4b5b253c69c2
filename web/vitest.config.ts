import { defineConfig } from "vitest/config";

// The web client's unit tests: plain logic, run in Node (`npm test -w web`). The page itself is tested in a
// real browser against a real cluster by tests/browser/.
export default defineConfig({
  test: {
    name: "web",
    include: ["src/**/*.test.ts"],
    testTimeout: 10_000,
  },
});
