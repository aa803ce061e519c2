# syntax=docker/dockerfile:1
# One image for every Node component of Konstruct. The first argument picks the component:
#   docker run konstruct:0.1.0 operator|gateway|router|orchestrator|portal|migrate|wait-for-schema|declare-streams
# Node runs the TypeScript sources directly (type stripping), so there is no build step: the
# first stage only installs production dependencies.
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# Manifests first, so the dependency layer is cached until a package.json or the lock changes.
COPY package.json package-lock.json ./
COPY services/core/package.json services/core/
COPY services/channels/package.json services/channels/
COPY services/gateway/package.json services/gateway/
COPY services/router/package.json services/router/
COPY services/orchestrator/package.json services/orchestrator/
COPY services/portal/package.json services/portal/
COPY operator/package.json operator/
COPY migrations/package.json migrations/
COPY charts/package.json charts/
COPY test/package.json test/
COPY scripts/control-plane/package.json scripts/control-plane/
COPY scripts/local/package.json scripts/local/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
      --workspace=services/core --workspace=services/channels --workspace=services/gateway --workspace=services/router \
      --workspace=services/orchestrator --workspace=services/portal --workspace=operator --workspace=migrations \
    && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY services/core/ services/core/
COPY services/channels/ services/channels/
COPY services/gateway/ services/gateway/
COPY services/router/ services/router/
COPY services/orchestrator/ services/orchestrator/
COPY services/portal/ services/portal/
COPY operator/ operator/
COPY migrations/ migrations/
COPY docker/entrypoint.ts docker/components.ts docker/wait-for-schema.ts docker/declare-streams.ts docker/
# Files stay owned by root and read-only to the process; it runs as the image's `node` user
# (uid 1000), which the charts' securityContext also names.
USER 1000:1000
ENTRYPOINT ["node", "/app/docker/entrypoint.ts"]
CMD ["--help"]
