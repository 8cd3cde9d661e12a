# syntax=docker/dockerfile:1
# access-perm worker / scoring image. The app runs its TypeScript through tsx (a runtime
# dependency), so there is no build stage: production dependencies, the sources and the workflow bundle.
#
# Node 20 is the project's runtime (package.json engines); 20.20.2 is the last 20.x release.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim
FROM ${NODE_IMAGE}

ENV NODE_ENV=production \
    ACCESS_PERM_DATA_DIR=/data \
    ACCESS_PERM_KEYRING=/keyring \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app

# Dependencies first, so source edits do not reinstall them. .npmrc must be present before the
# install: it sets onnxruntime-node-install=skip (its install script would fetch CUDA files).
# `npm install`, not `npm ci`: the lockfile lacks other platforms' optional native packages,
# which `npm ci` rejects; `npm install` keeps the locked versions.
COPY package.json package-lock.json .npmrc ./
RUN npm install --omit=dev --no-audit --no-fund \
 # package-lock.json lists only the x64 DuckDB native binding; on arm64 hosts (Apple silicon,
 # Graviton) install the binding that matches @duckdb/node-bindings. A no-op on amd64.
 && arch="$(node -p process.arch)" \
 && if [ ! -d "node_modules/@duckdb/node-bindings-linux-$arch" ]; then \
      npm install --no-save --omit=dev \
        "@duckdb/node-bindings-linux-$arch@$(node -p "require('@duckdb/node-bindings/package.json').version")"; \
    fi \
 # Fail the build, not the first pipeline run, when a native module cannot load.
 && node -e "require('@duckdb/node-bindings'); require('@temporalio/core-bridge')" \
 && npm cache clean --force

# Sources stay root-owned (read-only for the app user); see .dockerignore for what is left out.
COPY . .

# The workflow bundle workers load and the prebuilt CLI and thread programs, built once here (each stamped with the
# hash of its sources).
RUN node scripts/build-workflows.mjs && node scripts/build-js.mjs

# /data: runs, artifacts and state; /keyring: the keys, apart from the data (both volumes in
# docker-compose.yml; the image's empty, node-owned folders give fresh named volumes the right
# owner, and the keyring's mode 0700). /app/data: bundled configs generate their synthetic
# inputs there on first use.
RUN mkdir -p /data /keyring /app/data \
 && chown node:node /data /keyring /app/data \
 && chmod 700 /keyring

USER node
ENTRYPOINT ["node", "bin/access-perm.mjs"]
CMD ["--help"]
