/**
 * A small Prometheus text-format registry (exposition format 0.0.4): counters and histograms the
 * API updates as it runs, plus gauges computed at scrape time by collectors.
 */

type Labels = Readonly<Record<string, string>>;

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const labelText = (l: Labels) => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
};
const keyOf = (l: Labels) => JSON.stringify(Object.entries(l).sort());

export interface Sample {
  readonly labels: Labels;
  readonly value: number;
}

export interface GaugeFamily {
  readonly name: string;
  readonly help: string;
  readonly samples: readonly Sample[];
}

export class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const k = keyOf(labels);
    const cur = this.values.get(k);
    if (cur) cur.value += by;
    else this.values.set(k, { labels, value: by });
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values())
      lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines.join("\n");
  }
}

export class Histogram {
  private readonly series = new Map<
    string,
    { labels: Labels; counts: number[]; sum: number; count: number }
  >();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  ) {}

  observe(labels: Labels, value: number): void {
    const k = keyOf(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  render(): string {
    return renderHistogram({
      name: this.name,
      help: this.help,
      buckets: this.buckets,
      series: [...this.series.values()],
    });
  }
}

/** A histogram's series: cumulative counts per bucket bound (`le`), then +Inf, sum and count. */
export interface HistogramFamily {
  readonly name: string;
  readonly help: string;
  readonly buckets: readonly number[];
  readonly series: readonly { labels: Labels; counts: readonly number[]; sum: number; count: number }[];
}

export function renderHistogram(h: HistogramFamily): string {
  const lines = [`# HELP ${h.name} ${h.help}`, `# TYPE ${h.name} histogram`];
  for (const s of h.series) {
    for (const [i, b] of h.buckets.entries()) {
      lines.push(`${h.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts[i]}`);
    }
    lines.push(`${h.name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.count}`);
    lines.push(`${h.name}_sum${labelText(s.labels)} ${s.sum}`);
    lines.push(`${h.name}_count${labelText(s.labels)} ${s.count}`);
  }
  return lines.join("\n");
}

export function renderGauges(families: readonly GaugeFamily[]): string {
  return families
    .map((f) =>
      [
        `# HELP ${f.name} ${f.help}`,
        `# TYPE ${f.name} gauge`,
        ...f.samples.map((s) => `${f.name}${labelText(s.labels)} ${s.value}`),
      ].join("\n"),
    )
    .join("\n");
}

export class MetricsRegistry {
  readonly httpRequests = new Counter(
    "skiff_http_requests_total",
    "HTTP requests by method, route and status",
  );
  readonly httpDuration = new Histogram("skiff_http_request_duration_seconds", "HTTP request latency");
  private readonly collectors: (() => Promise<(GaugeFamily | HistogramFamily)[]>)[] = [];

  /** Families computed at scrape time (from the database, the process, the last heartbeats). */
  addCollector(fn: () => Promise<(GaugeFamily | HistogramFamily)[]>): void {
    this.collectors.push(fn);
  }

  async render(): Promise<string> {
    const families = (await Promise.all(this.collectors.map((c) => c()))).flat();
    const parts = families.map((f) => ("buckets" in f ? renderHistogram(f) : renderGauges([f])));
    return `${[this.httpRequests.render(), this.httpDuration.render(), ...parts].join("\n")}\n`;
  }
}
