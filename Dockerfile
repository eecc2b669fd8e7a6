# syntax=docker/dockerfile:1
# sigledger: one image for `serve` (sqlite by default, or --store esdb; see docker-compose.yml).
# The TypeScript sources run through tsx (a runtime dependency); there is no build step.

# ---- build: production dependencies, native modules (better-sqlite3, pkcs11js) compiled here
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# ---- runtime: no compiler, non-root
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    SIGLEDGER_DATA_DIR=/data \
    SIGLEDGER_HOST=0.0.0.0 \
    SIGLEDGER_PORT=8080
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY bin ./bin
COPY src ./src
# The image's `node` user (uid 1000) owns only the data directory; the code stays read-only.
RUN mkdir -p /data && chown node:node /data && chmod 0700 /data
USER node
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.SIGLEDGER_PORT || 8080) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/sigledger.mjs"]
CMD ["serve"]
