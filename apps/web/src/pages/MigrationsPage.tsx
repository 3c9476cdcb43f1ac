import { useState } from "preact/hooks";
import { type Api, ApiError } from "../api.js";
import { bytes, ms, when } from "../format.js";
import type { Migration, Node, Vps } from "../generated/api.js";
import { useAction, usePoll } from "../hooks.js";
import { RoundsChart } from "../RoundsChart.js";
import { finished, roundsOf } from "../rounds.js";
import { ErrorBox, Section, StateBadge } from "../ui.js";

export function MigrationsPage({ api, vpsId }: { api: Api; vpsId: string }) {
  const list = usePoll(() => api.get<{ items: Migration[] }>("/v1/migrations?limit=20"), 2000);
  const choices = usePoll(
    async () => ({ vpses: await api.all<Vps>("/v1/vps"), nodes: await api.all<Node>("/v1/nodes") }),
    0,
  );
  const [vps, setVps] = useState(vpsId);
  const [target, setTarget] = useState("");
  const [maxDowntimeMs, setMaxDowntimeMs] = useState("");
  const start = useAction();
  const vpsName = new Map(choices.data?.vpses.map((v) => [v.id, v.name]));
  const nodeName = new Map(choices.data?.nodes.map((n) => [n.id, n.name]));
  const running = (choices.data?.vpses ?? []).filter((v) => v.state === "running");
  const submit = async (e: Event) => {
    e.preventDefault();
    const id = vps || running[0]?.id;
    await start.run(async () => {
      const m = await api.post<Migration>(`/v1/vps/${id}/migrate`, {
        ...(target ? { targetNode: target } : {}),
        ...(maxDowntimeMs ? { maxDowntimeMs: Number(maxDowntimeMs) } : {}),
      });
      location.hash = `#/migrations/${m.id}`;
    });
  };
  return (
    <>
      <Section title="Start a live migration">
        <form class="inline" onSubmit={submit}>
          <label>
            VPS
            <select value={vps} onChange={(e) => setVps(e.currentTarget.value)}>
              {running.map((v) => (
                <option key={v.id} value={v.id}>
                  {v.name} (on {nodeName.get(v.nodeId ?? "") ?? "?"})
                </option>
              ))}
            </select>
          </label>
          <label>
            Target node
            <select value={target} onChange={(e) => setTarget(e.currentTarget.value)}>
              <option value="">the scheduler picks</option>
              {(choices.data?.nodes ?? []).map((n) => (
                <option key={n.id} value={n.id}>
                  {n.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            Max downtime (ms)
            <input
              type="number"
              min={1}
              max={60000}
              value={maxDowntimeMs}
              placeholder="default"
              onInput={(e) => setMaxDowntimeMs(e.currentTarget.value)}
            />
          </label>
          <button type="submit" disabled={start.busy || running.length === 0}>
            Migrate
          </button>
        </form>
        <ErrorBox error={start.error} />
        <ErrorBox error={choices.error} />
      </Section>
      <Section title="Recent migrations">
        <ErrorBox error={list.error} />
        <table aria-label="Recent migrations">
          <thead>
            <tr>
              <th scope="col">VPS</th>
              <th scope="col">State</th>
              <th scope="col">From → to</th>
              <th scope="col">Trigger</th>
              <th scope="col">Downtime</th>
              <th scope="col">Started</th>
            </tr>
          </thead>
          <tbody>
            {(list.data?.items ?? []).map((m) => (
              <tr key={m.id}>
                <th scope="row">
                  <a href={`#/migrations/${m.id}`}>{vpsName.get(m.vpsId) ?? m.vpsId.slice(0, 8)}</a>
                </th>
                <td>
                  <StateBadge state={m.state} />
                </td>
                <td>
                  {nodeName.get(m.sourceNodeId) ?? "?"} → {nodeName.get(m.targetNodeId) ?? "?"}
                </td>
                <td>{m.trigger}</td>
                <td>{ms(m.downtimeMs)}</td>
                <td>{when(m.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
    </>
  );
}

/** One migration, followed live until it ends: phase, each pre-copy round, downtime. */
export function MigrationPage({ api, id }: { api: Api; id: string }) {
  const [done, setDone] = useState(false);
  const m = usePoll(
    async () => {
      const v = await api.get<Migration>(`/v1/migrations/${id}`);
      if (finished(v.state)) setDone(true);
      return v;
    },
    done ? 0 : 500,
    [id],
  );
  const rounds = m.data ? roundsOf(m.data) : [];
  const d = m.data;
  return (
    <Section title="Migration">
      <ErrorBox error={m.error} />
      {d ? (
        <>
          <dl class="facts" aria-live="polite">
            <dt>State</dt>
            <dd>
              <StateBadge state={d.state} />
            </dd>
            <dt>Rounds</dt>
            <dd>{rounds.length}</dd>
            <dt>Sent</dt>
            <dd>{bytes(d.bytesSent)}</dd>
            <dt>Downtime</dt>
            <dd data-field="downtime">{ms(d.downtimeMs)}</dd>
            <dt>Total</dt>
            <dd>{ms(d.totalMs)}</dd>
            <dt>Max throttle</dt>
            <dd>{d.maxThrottlePercent === null ? "—" : `${d.maxThrottlePercent}%`}</dd>
          </dl>
          {d.error ? <ErrorBox error={new ApiError(0, d.errorCode ?? "MIGRATION_FAILED", d.error)} /> : null}
          <RoundsChart rounds={rounds} />
          <table aria-label="Pre-copy rounds">
            <thead>
              <tr>
                <th scope="col">Round</th>
                <th scope="col">Phase</th>
                <th scope="col">Pages</th>
                <th scope="col">Bytes</th>
                <th scope="col">Dirty pages/s</th>
                <th scope="col">Throttle</th>
                <th scope="col">Time</th>
              </tr>
            </thead>
            <tbody>
              {rounds.map((r) => (
                <tr key={r.round}>
                  <th scope="row">{r.round}</th>
                  <td>{r.phase}</td>
                  <td>{r.pages}</td>
                  <td>{bytes(r.bytes)}</td>
                  <td>{Math.round(r.dirtyPagesPerSec)}</td>
                  <td>{r.throttlePercent}%</td>
                  <td>{ms(r.ms)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
      <a href="#/migrations">All migrations</a>
    </Section>
  );
}
