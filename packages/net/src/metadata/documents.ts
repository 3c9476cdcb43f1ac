import type { HttpAnswer } from "./http.js";

/** What the control plane tells a VPS about itself beyond the network map (the agent passes it on). */
export interface GuestMetadata {
  hostname: string;
  /** OpenSSH public keys ("ssh-ed25519 AAAA... comment"), for root's authorized_keys. */
  publicKeys: readonly string[];
}

/** Everything one VPS may learn from the metadata service: about itself only. */
export interface InstanceView extends GuestMetadata {
  id: string;
  ipv4: string;
  mac: string;
  netmask: string;
  gateway: string;
}

export const METADATA_PREFIX = "/metadata/v1";

/**
 * The answers, in DigitalOcean's layout (`/metadata/v1/<field>` as text, `/metadata/v1.json` as
 * one document), which cloud-init and the usual agents already read.
 */
export function answerMetadata(method: string, path: string, view: InstanceView): HttpAnswer {
  if (method !== "GET" && method !== "HEAD") return text(405, "only GET\n");
  if (path === `${METADATA_PREFIX}.json`) {
    return { status: 200, contentType: "application/json", body: `${JSON.stringify(document(view))}\n` };
  }
  const fields = textFields(view);
  if (path === METADATA_PREFIX || path === `${METADATA_PREFIX}/`) {
    return text(200, `${Object.keys(fields).join("\n")}\n`);
  }
  if (!path.startsWith(`${METADATA_PREFIX}/`)) return text(404, "not found\n");
  const value = fields[path.slice(METADATA_PREFIX.length + 1)];
  return value === undefined ? text(404, "not found\n") : text(200, value);
}

const PRIVATE = "interfaces/private/0";

function textFields(view: InstanceView): Record<string, string> {
  return {
    id: `${view.id}\n`,
    hostname: `${view.hostname}\n`,
    "public-keys": view.publicKeys.map((k) => `${k}\n`).join(""),
    [`${PRIVATE}/mac`]: `${view.mac}\n`,
    [`${PRIVATE}/ipv4/address`]: `${view.ipv4}\n`,
    [`${PRIVATE}/ipv4/netmask`]: `${view.netmask}\n`,
    [`${PRIVATE}/ipv4/gateway`]: `${view.gateway}\n`,
  };
}

function document(view: InstanceView) {
  return {
    id: view.id,
    hostname: view.hostname,
    public_keys: view.publicKeys,
    interfaces: {
      private: [
        { mac: view.mac, ipv4: { address: view.ipv4, netmask: view.netmask, gateway: view.gateway } },
      ],
    },
  };
}

function text(status: HttpAnswer["status"], body: string): HttpAnswer {
  return { status, contentType: "text/plain", body };
}
