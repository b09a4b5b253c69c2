import { defineConfig } from "vite";
import { fakeS3 } from "./src/dev/fake-s3-plugin.js";

// `npm run dev -w web` serves the page with hot reload. Against a running gateway (IMGC_GATEWAY_URL, default
// http://127.0.0.1:8080) the API paths are proxied so the page keeps calling its own origin, as in production.
// With `?fake` in the page address it talks to an in-memory JobService instead (src/dev/fake-cluster.ts), and
// uploads land in the dev server's memory (src/dev/fake-s3-plugin.ts).
const gateway = process.env.IMGC_GATEWAY_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [fakeS3()],
  server: {
    proxy: {
      "/imgc.v1.JobService": gateway,
      "/v1": gateway,
    },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
  },
});
