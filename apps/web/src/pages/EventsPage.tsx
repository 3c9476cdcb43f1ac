import { useEffect, useRef, useState } from "preact/hooks";
import { type Api, type ApiError, errorOf, type Page } from "../api.js";
import { when } from "../format.js";
import type { Event } from "../generated/api.js";
import { ErrorBox, Section } from "../ui.js";

const KEEP = 300;
const SINCE_MS = 60 * 60 * 1000;

/**
 * The event log, following: the last hour first, then every second what came after the last
 * event seen (the API's `afterId`).
 */
export function EventsPage({ api }: { api: Api }) {
  const [events, setEvents] = useState<Event[]>([]);
  const [error, setError] = useState<ApiError>();
  const [paused, setPaused] = useState(false);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last: string | undefined;
    const since = new Date(Date.now() - SINCE_MS).toISOString();
    const poll = async () => {
      try {
        if (!pausedRef.current) {
          for (let more = true; more && !stopped; ) {
            const q = last ? `afterId=${last}` : `since=${encodeURIComponent(since)}`;
            const p = await api.get<Page<Event>>(`/v1/events?limit=200&${q}`);
            if (p.items.length) {
              last = p.items[p.items.length - 1]!.id;
              setEvents((old) => [...old, ...p.items].slice(-KEEP));
            }
            more = p.nextCursor !== null;
          }
          setError(undefined);
        }
      } catch (err) {
        setError(errorOf(err));
      }
      if (!stopped) timer = setTimeout(poll, 1000);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [api]);
  return (
    <Section title="Events">
      <ErrorBox error={error} />
      <label>
        <input type="checkbox" checked={paused} onChange={(e) => setPaused(e.currentTarget.checked)} /> Pause
        following
      </label>
      <div role="log" aria-label="Event log">
        <ol class="events">
          {[...events].reverse().map((e) => (
            <li key={e.id}>
              <time dateTime={e.at}>{when(e.at)}</time> <code>{e.type}</code> {e.resourceType} {e.message}
              {e.fromState || e.toState ? (
                <span class="muted">
                  {" "}
                  ({e.fromState ?? "—"} → {e.toState ?? "—"})
                </span>
              ) : null}
            </li>
          ))}
        </ol>
      </div>
      {events.length === 0 && !error ? <p>No event in the last hour.</p> : null}
    </Section>
  );
}
