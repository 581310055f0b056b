# syntax=docker/dockerfile:1
# Switchyard: multi-stage build. Stage 1 compiles TypeScript with dev dependencies; stage 2 is the runtime with
# production dependencies only, running as a non-root user, data in a volume, health-checked on /healthz.
# better-sqlite3 is a native addon: both stages use the same Debian-based Node image, so the prebuilt binary
# (or one compiled in stage 2) matches the runtime.

FROM node:20-bookworm-slim AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
RUN npm run build

FROM node:20-bookworm-slim AS runtime
# Idle memory (issue 7, docs/notes/product.md): glibc keeps a malloc arena per busy thread (V8 compiler and GC
# helpers, libuv pool), ~4 MB of RSS for a process that mostly sits idle; two arenas are plenty on a small box.
ENV NODE_ENV=production \
    SWITCHYARD_HOST=0.0.0.0 \
    SWITCHYARD_PORT=8787 \
    MALLOC_ARENA_MAX=2
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force \
 && apt-get purge -y python3 make g++ && apt-get autoremove -y
COPY --from=build /src/dist ./dist
COPY config ./config
RUN mkdir -p /app/data && chown -R node:node /app/data
USER node
VOLUME /app/data
EXPOSE 8787
# A non-loopback bind needs an admin token (SWITCHYARD_ADMIN_TOKEN); the gateway refuses to start without it.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.SWITCHYARD_PORT||8787)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
STOPSIGNAL SIGTERM
# scripts/smoke-prod.sh runs this command (with MALLOC_ARENA_MAX=2) in CI.
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["start"]
