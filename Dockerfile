# syntax=docker/dockerfile:1
# One image per service, from one build: `docker build --target worker -t imgc-worker .`
# (docker-compose.yml builds all three). The services run from their TypeScript sources through tsx, as in
# development, so what was tested is what runs.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# Manifests first: the dependency layer is rebuilt only when they change.
COPY package.json package-lock.json ./
COPY proto/package.json proto/
COPY common/package.json common/
COPY coordinator/package.json coordinator/
COPY worker/package.json worker/
COPY gateway/package.json gateway/
COPY cli/package.json cli/
COPY web/package.json web/
COPY tests/package.json tests/
# Dev dependencies included: tsx, which runs the services, is one.
RUN npm ci --no-audit --no-fund

FROM deps AS build
COPY . .
# The gateway serves the built web client (web/dist).
RUN if [ -f web/index.html ]; then npm run build -w web; fi

FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build --chown=node:node /app /app
USER node

FROM runtime AS coordinator
# 9464: /metrics, /healthz, /readyz
EXPOSE 50051 9464
CMD ["node", "--import", "tsx", "coordinator/src/main.ts"]

FROM runtime AS worker
# 9465: /metrics, /healthz, /readyz. Two malloc arenas keep libvips' many threads from growing the heap
# (docs/operations.md); the engine sets its libvips threads itself, so this does not change them.
ENV MALLOC_ARENA_MAX=2
EXPOSE 9465
CMD ["node", "--import", "tsx", "worker/src/main.ts"]

FROM runtime AS gateway
EXPOSE 8080 8081
CMD ["node", "--import", "tsx", "gateway/src/main.ts"]
