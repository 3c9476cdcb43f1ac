import { useEffect, useState } from "preact/hooks";
import type { Api } from "../api.js";
import { percent, score, when } from "../format.js";
import type { Balancer, BalancerPlan, BalancerSettings } from "../generated/api.js";
import { useAction, usePoll } from "../hooks.js";
import { ErrorBox, Section } from "../ui.js";

// Fractions take any step: a form that refuses 0.005 for a 0.01 step would never submit.
const NUMBERS: [keyof BalancerSettings, string, number | "any"][] = [
  ["threshold", "Threshold (0–1)", "any"],
  ["minImprovement", "Minimum improvement (0–1)", "any"],
  ["hysteresis", "Hysteresis (0–1)", "any"],
  ["cooldownSeconds", "Cooldown (s)", 1],
  ["maxMovesPerRound", "Moves per round", 1],
  ["maxConcurrent", "Concurrent migrations", 1],
  ["maxConcurrentPerNode", "Concurrent per node", 1],
  ["packMaxUtilization", "Pack up to (0–1)", "any"],
];

/** The balancer: its score per node, its settings, and a dry run of them before they apply. */
export function BalancerPage({ api }: { api: Api }) {
  const status = usePoll(() => api.get<Balancer>("/v1/balancer"), 2000);
  const [draft, setDraft] = useState<BalancerSettings>();
  const [plan, setPlan] = useState<BalancerPlan>();
  const action = useAction();
  useEffect(() => {
    if (!draft && status.data) setDraft(status.data.settings);
  }, [status.data, draft]);
  const set = <K extends keyof BalancerSettings>(k: K, v: BalancerSettings[K]) => {
    setDraft((d) => (d ? { ...d, [k]: v } : d));
    setPlan(undefined);
  };
  const dryRun = () =>
    action.run(async () => setPlan(await api.post<BalancerPlan>("/v1/balancer/plan", draft)));
  const apply = () =>
    action.run(async () => {
      await api.put("/v1/balancer", draft);
      setPlan(undefined);
      status.refresh();
    });
  const b = status.data;
  return (
    <>
      <Section title="Balancer">
        <ErrorBox error={status.error} />
        {b ? (
          <>
            <p role="status">
              {b.settings.enabled ? "Enabled" : "Disabled"}, mode {b.score.mode}: score{" "}
              <strong>{score(b.score.current)}</strong> (acts above {b.score.threshold}, stops at{" "}
              {score(b.score.floor)}){b.state.balancing ? ", balancing" : ""}; last round{" "}
              {when(b.state.lastRunAt)}
            </p>
            <table aria-label="Node scores">
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col">Counted</th>
                  <th scope="col">VPSes</th>
                  <th scope="col">CPU</th>
                  <th scope="col">Memory</th>
                  <th scope="col">Deviation</th>
                </tr>
              </thead>
              <tbody>
                {b.nodes.map((n) => (
                  <tr key={n.nodeId}>
                    <th scope="row">{n.name}</th>
                    <td>{n.active ? "yes" : n.maintenance ? "no (maintenance)" : `no (${n.status})`}</td>
                    <td>{n.vpsCount}</td>
                    <td>{percent(n.cpu)}</td>
                    <td>{percent(n.memory)}</td>
                    <td>{score(n.deviation)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        ) : null}
      </Section>
      {draft ? (
        <Section title="Settings">
          <form
            class="settings"
            onSubmit={(e) => {
              e.preventDefault();
              void dryRun();
            }}
          >
            <label class="check">
              <input
                type="checkbox"
                checked={draft.enabled}
                onChange={(e) => set("enabled", e.currentTarget.checked)}
              />
              Enabled
            </label>
            <label>
              Mode
              <select
                value={draft.mode}
                onChange={(e) => set("mode", e.currentTarget.value as BalancerSettings["mode"])}
              >
                <option value="spread">spread</option>
                <option value="pack">pack</option>
              </select>
            </label>
            {NUMBERS.map(([key, label, step]) => (
              <label key={key}>
                {label}
                <input
                  type="number"
                  step={step}
                  value={String(draft[key])}
                  onInput={(e) => set(key, Number(e.currentTarget.value) as never)}
                />
              </label>
            ))}
            <div class="buttons">
              <button type="submit" disabled={action.busy}>
                Dry run
              </button>
              <button
                type="button"
                disabled={action.busy || !plan}
                onClick={apply}
                title="Run a dry run first"
              >
                Apply settings
              </button>
            </div>
          </form>
          <ErrorBox error={action.error} />
          {plan ? <DryRun plan={plan} /> : null}
        </Section>
      ) : null}
    </>
  );
}

function DryRun({ plan: p }: { plan: BalancerPlan }) {
  const whole = p.plan;
  return (
    <section class="dry-run" aria-label="Dry run">
      <h3>Dry run</h3>
      <p>
        {whole.outcome}: score {score(whole.scoreBefore)} → {score(whole.scoreAfter)} in {whole.moves.length}{" "}
        move(s); the next round would start {p.nextRound.moves.length}.
      </p>
      {whole.moves.length ? (
        <table aria-label="Planned moves">
          <thead>
            <tr>
              <th scope="col">VPS</th>
              <th scope="col">From → to</th>
              <th scope="col">Gain</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {whole.moves.map((m) => (
              <tr key={`${m.vpsId}-${m.toNodeId}`}>
                <th scope="row">{m.vpsName}</th>
                <td>
                  {m.fromNode} → {m.toNode}
                </td>
                <td>{score(m.gain)}</td>
                <td>{m.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
