# Berth's own image: one binary for every role (controller, agent, all).
#
#   docker build -t berth:dev .                      (or: bash hack/image.sh)
#   docker build --build-arg BASE_IMAGE=<image> .    any image with node 20 and npm on PATH
#
# Two stages: `build` compiles the TypeScript and drops the development dependencies;
# the runtime stage gets only the compiled JavaScript and the production dependencies,
# and runs as an unprivileged numeric user (so Kubernetes' runAsNonRoot can check it
# without a passwd lookup).
#
# The build is offline: it takes node_modules from the build context, so run `npm ci`
# (on Linux, same CPU architecture as the image) before building. Nothing is fetched from
# a package registry while the image builds.
ARG BASE_IMAGE=node:20-bookworm-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
COPY node_modules ./node_modules
COPY controller/src ./controller/src
RUN node node_modules/typescript/bin/tsc -p tsconfig.json \
 && cp -R controller/src/registry/web dist/registry/ \
 && npm prune --omit=dev --offline --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/.cache node_modules/.package-lock.json

FROM ${BASE_IMAGE}
# The agent clones repositories with git (https or ssh) for Definitions built from source.
RUN command -v git >/dev/null && command -v ssh >/dev/null \
 || (apt-get update \
     && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
     && rm -rf /var/lib/apt/lists/*)
# A passwd entry for the unprivileged user: ssh (git over ssh) refuses to run without one.
# /var/lib/berth-agent is the agent's state directory when a volume is mounted there (a new
# volume takes its owner from the image's directory).
RUN echo 'berth:x:65532:65532:berth:/home/berth:/usr/sbin/nologin' >>/etc/passwd \
 && echo 'berth:x:65532:' >>/etc/group \
 && mkdir -p /home/berth /var/lib/berth-agent \
 && chown 65532:65532 /home/berth /var/lib/berth-agent
WORKDIR /app
ENV NODE_ENV=production \
    HOME=/home/berth
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# Numeric, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 65532:65532
# /metrics, /healthz and /readyz (the port is set with --metrics-bind-address).
EXPOSE 9464
ENTRYPOINT ["node", "--enable-source-maps", "dist/cli/main.js"]
CMD ["--help"]
