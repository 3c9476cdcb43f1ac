/** The NodeAgent RPC of VPS networks (merged into the agent's gRPC service in agent.ts). */
import type { ServerUnaryCall, ServiceError, sendUnaryData } from "@grpc/grpc-js";
import { errorMessage, type Logger } from "@skiff/common";
import type { ApplyNetworkMapRequest, ApplyNetworkMapResponse, NodeAgentServer } from "@skiff/proto";
import { toServiceError } from "../grpc/errors.js";
import { authorized } from "../migration/service.js";
import { networkMapFromProto } from "./map-from-proto.js";
import type { NodeNetwork } from "./node-network.js";

export interface NetworkServiceDeps {
  readonly network: NodeNetwork;
  readonly token: string;
  readonly log: Logger;
}

export function networkService(deps: NetworkServiceDeps): Pick<NodeAgentServer, "applyNetworkMap"> {
  return {
    applyNetworkMap: (
      call: ServerUnaryCall<ApplyNetworkMapRequest, ApplyNetworkMapResponse>,
      callback: sendUnaryData<ApplyNetworkMapResponse>,
    ): void => {
      try {
        authorized(call.metadata, deps.token);
        const version = deps.network.apply(networkMapFromProto(call.request.map));
        callback(null, { version: Math.max(0, version) });
      } catch (err) {
        deps.log.info({ rpc: "ApplyNetworkMap", err: errorMessage(err) }, "rpc refused");
        callback(toServiceError(err) as ServiceError);
      }
    },
  };
}
