# syntax=docker/dockerfile:1
# Tessera: multi-stage image (docs/deploy.md). The final stage has Node.js, the
# compiled packages, the console's built assets and the production dependencies only:
# no compiler, no dev dependencies, no TypeScript sources; it runs as the unprivileged
# `node` user (uid 1000).
#
# NODE_IMAGE is any Debian-based Node.js image with a `node` user of uid 1000 (the
# official ones are); CI assembles one locally (.ci/image.sh). NPM_CONFIG_REGISTRY
# optionally points npm at a mirror or private registry.
ARG NODE_IMAGE=node:24-bookworm-slim

# 1. Install every dependency, compile TypeScript and build the console.
FROM ${NODE_IMAGE} AS build
ARG NPM_CONFIG_REGISTRY
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/verifier/package.json packages/verifier/
COPY packages/client/package.json packages/client/
COPY packages/server/package.json packages/server/
COPY packages/console/package.json packages/console/
COPY packages/testing/package.json packages/testing/
COPY packages/cli/package.json packages/cli/
# Without lifecycle scripts, so this layer is reused until the lockfile changes: the
# root `prepare` (the build) needs the sources, which come next. The one dependency
# that needs its install script is better-sqlite3, compiled here from source (no
# prebuilt binary is downloaded).
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 --build-from-source \
 && npm cache clean --force
COPY tsconfig.base.json tsconfig.json ./
COPY packages packages
# What the root `prepare` runs: tsc -b, then the console into packages/server/console.
RUN npm run build

# 2. Production dependencies only; the native module is the one compiled above
#    (same base image, so the same Node.js ABI), so this stage needs no compiler.
FROM ${NODE_IMAGE} AS deps
ARG NPM_CONFIG_REGISTRY
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/verifier/package.json packages/verifier/
COPY packages/client/package.json packages/client/
COPY packages/server/package.json packages/server/
COPY packages/console/package.json packages/console/
COPY packages/testing/package.json packages/testing/
COPY packages/cli/package.json packages/cli/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /app/node_modules/better-sqlite3/build/Release/better_sqlite3.node node_modules/better-sqlite3/build/Release/

# 3. The runtime image.
FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="Tessera" \
      org.opencontainers.image.description="Machine-to-machine OAuth 2.0 authorization server" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.documentation="docs/deploy.md"
ENV NODE_ENV=production \
    TESSERA_HOST=0.0.0.0 \
    TESSERA_PORT=8080 \
    TESSERA_DATA_DIR=/var/lib/tessera
WORKDIR /app
COPY --from=deps /app ./
COPY --from=build /app/packages/verifier/dist packages/verifier/dist
COPY --from=build /app/packages/client/dist packages/client/dist
COPY --from=build /app/packages/server/dist packages/server/dist
COPY --from=build /app/packages/server/console packages/server/console
COPY --from=build /app/packages/cli/dist packages/cli/dist
COPY --from=build /app/packages/cli/bin packages/cli/bin
RUN mkdir -p /var/lib/tessera && chown node:node /var/lib/tessera
USER node
EXPOSE 8080 9464
VOLUME ["/var/lib/tessera"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.TESSERA_PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "packages/cli/bin/tessera.js", "serve"]
