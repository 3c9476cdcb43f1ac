# Images for the API, the node agent and the region's gateway, from one workspace build; the
# compose file picks the target. Build: docker build --target api -t skiff/api .
FROM node:20-bookworm-slim AS build
WORKDIR /src
ENV TURBO_TELEMETRY_DISABLED=1 PRISMA_HIDE_UPDATE_MESSAGE=1
RUN npm install -g pnpm@10.34.9
COPY . .
# Prisma's CLI only needs an engine path to exist for `generate`.
RUN PRISMA_SCHEMA_ENGINE_BINARY="$(command -v node)" pnpm install --frozen-lockfile \
 && PRISMA_SCHEMA_ENGINE_BINARY="$(command -v node)" pnpm exec turbo run build \
 && pnpm deploy --filter @skiff/api --prod --legacy /out/api \
 && pnpm deploy --filter @skiff/node-agent --prod --legacy /out/node-agent \
 && pnpm deploy --filter @skiff/net --prod --legacy /out/net \
 && mkdir -p /out/guests && cp -r guests/linux /out/guests/ && cp -r prisma /out/prisma

FROM node:20-bookworm-slim AS api
WORKDIR /app
COPY --from=build /out/api /app
COPY --from=build /out/prisma /app/prisma
COPY --from=build /out/guests /app/guests
ENV NODE_ENV=production SKIFF_API_HOST=0.0.0.0 SKIFF_API_PORT=8080
EXPOSE 8080
USER node
CMD ["node", "dist/main.js"]

FROM node:20-bookworm-slim AS node-agent
WORKDIR /app
COPY --from=build /out/node-agent /app
COPY --from=build /out/guests /app/guests
# HOST: a container's loopback is its own, so the agent binds every interface; set
# SKIFF_AGENT_ADVERTISE_HOST to the name the control plane reaches it by.
ENV NODE_ENV=production HOST=0.0.0.0 SKIFF_AGENT_GRPC_PORT=7070 SKIFF_AGENT_DATA_DIR=/var/lib/skiff
EXPOSE 7070
VOLUME /var/lib/skiff
CMD ["node", "dist/main.js"]

# The region's gateway (packages/net/src/gateway/main.ts): an interface per VPS network, relayed
# to the overlay by socat, and outbound NAT with nftables. Needs CAP_NET_ADMIN and /dev/net/tun.
FROM node:20-bookworm-slim AS gateway
RUN apt-get update && apt-get install -y --no-install-recommends iproute2 socat nftables \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /out/net /app
ENV NODE_ENV=production SKIFF_GATEWAY_OVERLAY_PORT=4789
EXPOSE 4789/udp
CMD ["node", "dist/gateway/main.js"]
