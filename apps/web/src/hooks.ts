import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { type ApiError, errorOf } from "./api.js";

export interface Polled<T> {
  data: T | undefined;
  error: ApiError | undefined;
  refresh: () => void;
}

/**
 * Loads now and again every `everyMs` while mounted (the API has no push channel besides the
 * console: "live" is a short poll). A failed load keeps the last data and shows the error.
 */
export function usePoll<T>(load: () => Promise<T>, everyMs: number, deps: unknown[] = []): Polled<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError>();
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const v = await loadRef.current();
        if (stopped) return;
        setData(v);
        setError(undefined);
      } catch (err) {
        if (!stopped) setError(errorOf(err));
      }
      if (!stopped && everyMs > 0) timer = setTimeout(run, everyMs);
    };
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [everyMs, tick, ...deps]);
  const refresh = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, refresh };
}

/** Runs an action; its failure is kept to show, and `busy` says one is in flight. */
export function useAction(): {
  busy: boolean;
  error: ApiError | undefined;
  run: (fn: () => Promise<unknown>) => Promise<boolean>;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError>();
  const run = useCallback(async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await fn();
      return true;
    } catch (err) {
      setError(errorOf(err));
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run };
}

export interface Route {
  /** The hash's path after "#/", split on "/". */
  path: string[];
  query: URLSearchParams;
}

function readRoute(): Route {
  const [path = "", query = ""] = location.hash.replace(/^#\/?/, "").split("?", 2);
  return {
    path: path
      .split("/")
      .filter(Boolean)
      .map((s) => decodeURIComponent(s)),
    query: new URLSearchParams(query),
  };
}

/** The console's routes live in location.hash: the API serves one page at /. */
export function useRoute(): Route {
  const [route, setRoute] = useState(readRoute);
  useEffect(() => {
    const on = () => setRoute(readRoute());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}
