import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { chartColumns, type Round } from "./rounds.js";

/**
 * Pre-copy rounds as a chart: pages sent and dirty pages per second on the left axis, throttle
 * on the right. The table beside it carries the same numbers for screen readers.
 */
export function RoundsChart({ rounds }: { rounds: Round[] }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  useEffect(() => {
    const width = Math.max(300, Math.min(800, host.current!.clientWidth || 600));
    plot.current = new uPlot(
      {
        width,
        height: 240,
        scales: { x: { time: false }, pct: { range: [0, 100] } },
        axes: [
          // Rounds are whole numbers: no tick between two.
          { label: "round", incrs: [1, 2, 5, 10, 20, 50, 100] },
          { label: "pages" },
          { scale: "pct", side: 1, label: "throttle %", grid: { show: false } },
        ],
        series: [
          { label: "round" },
          { label: "pages sent", stroke: "#2563eb", width: 2, points: { show: true } },
          { label: "dirty pages/s", stroke: "#dc2626", width: 2, points: { show: true } },
          { label: "throttle %", stroke: "#7c3aed", scale: "pct", dash: [6, 4], points: { show: true } },
        ],
      },
      chartColumns([]),
      host.current!,
    );
    return () => plot.current?.destroy();
  }, []);
  useEffect(() => {
    plot.current?.setData(chartColumns(rounds));
  }, [rounds]);
  return <div ref={host} class="chart" role="img" aria-label={`chart of ${rounds.length} pre-copy rounds`} />;
}
