import type { ComponentChildren } from "preact";
import type { ApiError } from "./api.js";

/** An error as the API gave it: its code and its message, announced to screen readers. */
export function ErrorBox({ error }: { error: ApiError | undefined }) {
  if (!error) return null;
  return (
    <div class="error" role="alert">
      <code>{error.code}</code> {error.message}
    </div>
  );
}

export function StateBadge({ state }: { state: string }) {
  return <span class={`state state-${state}`}>{state}</span>;
}

/** A labelled gauge: <meter> reads as "label, value" to assistive technology. */
export function Gauge({ label, value, text }: { label: string; value: number; text: string }) {
  const v = Math.max(0, Math.min(1, Number.isFinite(value) ? value : 0));
  return (
    <div class="gauge">
      <span>{label}</span>
      <meter min={0} max={1} low={0.7} high={0.9} optimum={0} value={v} aria-label={label} title={text} />
      <span class="gauge-text">{text}</span>
    </div>
  );
}

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}
