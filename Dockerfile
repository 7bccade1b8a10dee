# syntax=docker/dockerfile:1
#
# keywatch CLI image. The TypeScript sources run through tsx at run time (no build step), so the
# image holds the sources and node_modules. chdb ships its ~540 MB native library as the
# per-platform npm package @chdb/lib-linux-<arch>-gnu, which needs a glibc base (Debian, not Alpine).
#
#   docker build -t keywatch:local .
#   docker run --rm keywatch:local --help

ARG NODE_IMAGE=node:20-bookworm-slim
FROM ${NODE_IMAGE}

WORKDIR /app

# Dependencies first, so source edits do not invalidate this layer.
COPY package.json package-lock.json ./

# tsx (a runtime dependency) runs the TypeScript sources; dev dependencies stay out. pkcs11js (the
# PKCS#11 binding for HSM checks and probes) compiles a native addon, so the build tools are
# installed for this step and removed after it. The HSM vendor's PKCS#11 module (a .so) is not in
# the image: mount it and point `keywatch attest pkcs11 --module` or `keywatch probe --module` at it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make python3 \
 && npm ci --omit=dev \
 && npm cache clean --force \
 && apt-get purge -y --auto-remove g++ make python3 \
 && rm -rf /var/lib/apt/lists/*

COPY . .

# `keywatch` on the PATH. Node resolves the symlink, so bin/keywatch.js imports its modules
# and node_modules relative to /app.
RUN test -f bin/keywatch.js \
 && chmod 0755 bin/keywatch.js \
 && ln -s /app/bin/keywatch.js /usr/local/bin/keywatch \
 && groupadd --system keywatch \
 && useradd --system --gid keywatch --create-home --home-dir /home/keywatch --shell /usr/sbin/nologin keywatch \
 && mkdir -p /var/lib/keywatch \
 && chown keywatch:keywatch /var/lib/keywatch

# KEYWATCH_DATA_DIR holds the embedded store (when KEYWATCH_CLICKHOUSE_URL is unset), and with any
# store the HTTP spool (<dir>/spool) and the file-ingest checkpoints: keep it on a volume.
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    KEYWATCH_DATA_DIR=/var/lib/keywatch

USER keywatch

ENTRYPOINT ["keywatch"]
CMD ["status"]
