/**
 * Whether the certificate an agent's request came with may speak for the node the request names
 * (registration: the body's name; heartbeat: the node's row). The handshake already proved the
 * region CA issued it and that it is in date; here: it names that node, and that node was not
 * revoked after it was issued. Every refusal is logged and counted with the TLS refusals.
 */
import type { Logger } from "@skiff/common";
import { type CertifiedPeer, checkRevocation, logRefusal, nodeIdentity, nodeNameOf } from "@skiff/pki";
import { apiError } from "../http/errors.js";
import type { NodeRevocations } from "./node-revocations.js";

export interface AgentCertificateDeps {
  readonly log: Logger;
  readonly revocations: NodeRevocations;
}

/** `peer` undefined: the request came in plaintext (the public listener), not the agents' one. */
export async function checkAgentCertificate(
  deps: AgentCertificateDeps,
  nodeName: string,
  peer: CertifiedPeer | undefined,
  address: string,
): Promise<void> {
  if (!peer) {
    logRefusal(deps.log, "no-certificate", {
      peer: address,
      node: nodeName,
      detail: "an agent route over plaintext",
      side: "server",
    });
    throw apiError(
      "AGENT_CERTIFICATE_REQUIRED",
      "agents register and heartbeat on the API's mutual-TLS agent listener (SKIFF_API_AGENT_PORT) with their node certificate",
      { node: nodeName },
    );
  }
  if (nodeNameOf(peer.identity) !== nodeName) {
    logRefusal(deps.log, "wrong-identity", {
      peer: address,
      node: nodeName,
      detail: `names ${peer.identity || "no one"}, expected ${nodeIdentity(nodeName)}`,
      side: "server",
    });
    throw apiError(
      "NODE_IDENTITY_MISMATCH",
      `the agent's certificate names ${peer.identity || "no one"}, not node ${nodeName}`,
      { name: nodeName, certificate: peer.identity },
    );
  }
  const revokedAt = await deps.revocations.lookup(nodeName);
  const v = checkRevocation(peer, { revokedAt: () => revokedAt });
  if (!v.ok) {
    logRefusal(deps.log, v.reason, { peer: address, node: nodeName, detail: v.detail, side: "server" });
    throw apiError("NODE_REVOKED", `node ${nodeName} was revoked; its certificate is no longer accepted`, {
      name: nodeName,
      revokedAt: revokedAt?.toISOString(),
    });
  }
}
