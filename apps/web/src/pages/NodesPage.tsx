import type { Api } from "../api.js";
import { bytes, percent } from "../format.js";
import type { DrainProgress, Node } from "../generated/api.js";
import { useAction, usePoll } from "../hooks.js";
import { ErrorBox, Gauge, Section } from "../ui.js";

interface NodeView {
  node: Node;
  drain?: DrainProgress;
}

/** Nodes as a grid: capacity, what is reserved, measured use, and drain with its progress. */
export function NodesPage({ api }: { api: Api }) {
  const nodes = usePoll(async (): Promise<NodeView[]> => {
    const list = (await api.all<Node>("/v1/nodes")).sort((a, b) => a.name.localeCompare(b.name));
    return Promise.all(
      list.map(async (node) => ({
        node,
        drain: node.maintenance ? await api.get<DrainProgress>(`/v1/nodes/${node.id}/drain`) : undefined,
      })),
    );
  }, 1000);
  const action = useAction();
  const toggle = (n: Node) =>
    action.run(async () => {
      await api.post(`/v1/nodes/${n.id}/${n.maintenance ? "undrain" : "drain"}`);
      nodes.refresh();
    });
  return (
    <Section title="Nodes">
      <ErrorBox error={nodes.error} />
      <ErrorBox error={action.error} />
      <ul class="grid" aria-label="Nodes">
        {(nodes.data ?? []).map(({ node: n, drain }) => (
          <li key={n.id} class={`card node-${n.status}`} aria-label={`node ${n.name}`} data-node={n.name}>
            <h3>
              {n.name} <span class={`state state-${n.status}`}>{n.status}</span>
              {n.maintenance ? <span class="state state-maintenance">maintenance</span> : null}
            </h3>
            <Gauge
              label="Host CPU busy"
              value={n.usage.cpuPercent / 100}
              text={`${n.usage.cpuPercent.toFixed(0)}% (${n.capacity.cpus} cores offered)`}
            />
            <Gauge
              label="Memory committed"
              value={n.reserved.memoryBytes / n.capacity.memoryBytes}
              text={`${bytes(n.reserved.memoryBytes)} of ${bytes(n.capacity.memoryBytes)} (${percent(
                n.reserved.memoryBytes / n.capacity.memoryBytes,
              )})`}
            />
            <p>
              VMs running: <strong>{n.usage.vmCount}</strong> (placed: {n.reserved.vpsCount}); host memory in
              use {bytes(n.usage.memoryUsedBytes)}
            </p>
            {drain ? (
              <p class="drain" role="status" aria-label={`drain of ${n.name}`}>
                {drain.done
                  ? "Drained: no VPS left."
                  : `Draining: ${drain.remaining} left, ${drain.migrating} moving, ${drain.completed} moved${
                      drain.failed ? `, ${drain.failed} failed (retried)` : ""
                    }.`}
              </p>
            ) : null}
            <button type="button" disabled={action.busy} onClick={() => toggle(n)}>
              {n.maintenance ? `Undrain ${n.name}` : `Drain ${n.name}`}
            </button>
          </li>
        ))}
      </ul>
    </Section>
  );
}
