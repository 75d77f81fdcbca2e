# syntax=docker/dockerfile:1
# Tessera: multi-stage image (docs/deploy.md). The final stage has Node.js, the
# compiled server and its production dependencies only: no compiler, no dev
# dependencies, no TypeScript sources, and it runs as the unprivileged `node` user.

ARG NODE_IMAGE=node:20-bookworm-slim

# 1. Compile TypeScript with every dependency installed.
FROM ${NODE_IMAGE} AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/verifier/package.json packages/verifier/
COPY packages/client/package.json packages/client/
COPY packages/server/package.json packages/server/
COPY packages/cli/package.json packages/cli/
RUN npm ci --ignore-scripts=false
COPY tsconfig.base.json tsconfig.json ./
COPY packages packages
RUN npx tsc -b

# 2. Production dependencies only (better-sqlite3 is built here, with the compiler).
FROM ${NODE_IMAGE} AS deps
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/verifier/package.json packages/verifier/
COPY packages/client/package.json packages/client/
COPY packages/server/package.json packages/server/
COPY packages/cli/package.json packages/cli/
RUN npm ci --omit=dev && npm cache clean --force

# 3. The runtime image.
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    TESSERA_HOST=0.0.0.0 \
    TESSERA_PORT=8080 \
    TESSERA_DATA_DIR=/var/lib/tessera
WORKDIR /app
COPY --from=deps --chown=root:root /app ./
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
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.TESSERA_PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "packages/cli/bin/tessera.js", "serve"]
