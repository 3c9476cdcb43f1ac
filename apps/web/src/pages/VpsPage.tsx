import { useState } from "preact/hooks";
import type { Api } from "../api.js";
import { when } from "../format.js";
import type { Image, Plan, Vps } from "../generated/api.js";
import { useAction, usePoll } from "../hooks.js";
import type { Role } from "../session.js";
import { ErrorBox, Section, StateBadge } from "../ui.js";

/** The actions a VPS offers in a state (the API refuses the others with INVALID_STATE). */
const ACTIONS: Record<string, string[]> = {
  running: ["stop", "reboot", "pause", "suspend"],
  paused: ["resume", "stop"],
  stopped: ["start"],
  suspended: ["restore"],
  error: ["start"],
};
const WITH_CONSOLE = new Set(["running", "paused", "rebooting", "migrating"]);

export function VpsPage({ api, role }: { api: Api; role: Role }) {
  const list = usePoll(() => api.all<Vps>("/v1/vps"), 1000);
  const catalog = usePoll(
    async () => ({ plans: await api.all<Plan>("/v1/plans"), images: await api.all<Image>("/v1/images") }),
    0,
  );
  const action = useAction();
  const [confirming, setConfirming] = useState<string>();
  const planName = new Map(catalog.data?.plans.map((p) => [p.id, p.name]));
  const act = (v: Vps, a: string) =>
    action.run(async () => {
      await api.post(`/v1/vps/${v.id}/actions/${a}`);
      list.refresh();
    });
  const remove = (v: Vps) =>
    action.run(async () => {
      setConfirming(undefined);
      await api.delete(`/v1/vps/${v.id}`);
      list.refresh();
    });
  const vpses = (list.data ?? []).filter((v) => v.state !== "deleted");
  return (
    <>
      <Section title="VPSes">
        <ErrorBox error={list.error} />
        <ErrorBox error={action.error} />
        <table aria-label="VPSes">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Address</th>
              <th scope="col">Plan</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {vpses.map((v) => (
              <tr key={v.id} data-vps={v.name}>
                <th scope="row">{v.name}</th>
                <td>
                  <StateBadge state={v.state} />
                  {v.action ? <span class="muted"> ({v.action})</span> : null}
                  {v.stateReason && v.state === "error" ? <span class="muted"> {v.stateReason}</span> : null}
                </td>
                <td>{v.ipv4 ?? "—"}</td>
                <td>{planName.get(v.planId) ?? v.planId.slice(0, 8)}</td>
                <td>{when(v.createdAt)}</td>
                <td class="actions">
                  {(ACTIONS[v.state] ?? []).map((a) => (
                    <button
                      key={a}
                      type="button"
                      disabled={action.busy || !!v.action}
                      aria-label={`${a} ${v.name}`}
                      onClick={() => act(v, a)}
                    >
                      {a}
                    </button>
                  ))}
                  {WITH_CONSOLE.has(v.state) ? (
                    <a href={`#/vps/${v.id}/console`} aria-label={`console of ${v.name}`}>
                      console
                    </a>
                  ) : null}
                  {role === "operator" && v.state === "running" ? (
                    <a href={`#/migrations?vps=${v.id}`} aria-label={`migrate ${v.name}`}>
                      migrate
                    </a>
                  ) : null}
                  {confirming === v.id ? (
                    <button
                      type="button"
                      class="danger"
                      onClick={() => remove(v)}
                      aria-label={`confirm delete ${v.name}`}
                    >
                      confirm delete
                    </button>
                  ) : (
                    <button
                      type="button"
                      disabled={v.state === "deleting"}
                      onClick={() => setConfirming(v.id)}
                      aria-label={`delete ${v.name}`}
                    >
                      delete
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {list.data && vpses.length === 0 ? <p>No VPS yet.</p> : null}
      </Section>
      <CreateVps
        api={api}
        plans={catalog.data?.plans ?? []}
        images={catalog.data?.images ?? []}
        onCreated={list.refresh}
      />
      <ErrorBox error={catalog.error} />
    </>
  );
}

function CreateVps(props: { api: Api; plans: Plan[]; images: Image[]; onCreated: () => void }) {
  const [name, setName] = useState("");
  const [plan, setPlan] = useState("");
  const [image, setImage] = useState("");
  const create = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    const ok = await create.run(() =>
      props.api.post("/v1/vps", {
        name: name.trim(),
        plan: plan || props.plans[0]?.name,
        ...(image ? { image } : {}),
      }),
    );
    if (ok) {
      setName("");
      props.onCreated();
    }
  };
  return (
    <Section title="Create a VPS">
      <form class="inline" onSubmit={submit}>
        <label>
          Name
          <input required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Plan
          <select value={plan} onChange={(e) => setPlan(e.currentTarget.value)}>
            {props.plans.map((p) => (
              <option key={p.id} value={p.name}>
                {p.name} ({p.vcpus} vCPU, {Math.round(p.memoryBytes / 2 ** 20)} MiB)
              </option>
            ))}
          </select>
        </label>
        <label>
          Image
          <select value={image} onChange={(e) => setImage(e.currentTarget.value)}>
            <option value="">the default image</option>
            {props.images.map((i) => (
              <option key={i.id} value={i.name}>
                {i.name}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" disabled={create.busy}>
          Create
        </button>
      </form>
      <ErrorBox error={create.error} />
    </Section>
  );
}
