import { useEffect, useErrorBoundary, useState } from "preact/hooks";
import { type Api, errorOf } from "./api.js";
import { useRoute } from "./hooks.js";
import { BalancerPage } from "./pages/BalancerPage.js";
import { ConsolePage } from "./pages/ConsolePage.js";
import { EventsPage } from "./pages/EventsPage.js";
import { MigrationPage, MigrationsPage } from "./pages/MigrationsPage.js";
import { NodesPage } from "./pages/NodesPage.js";
import { VpsPage } from "./pages/VpsPage.js";
import { SignIn } from "./SignIn.js";
import { type Session, savedToken, signIn, signOut } from "./session.js";
import { ErrorBox } from "./ui.js";

const OPERATOR_PAGES = [
  ["nodes", "Nodes"],
  ["migrations", "Migrations"],
  ["balancer", "Balancer"],
  ["events", "Events"],
] as const;

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [restoring, setRestoring] = useState(() => savedToken() !== null);
  const route = useRoute();
  // A page that throws while rendering shows what broke instead of a blank page.
  const [crash, resetCrash] = useErrorBoundary();

  // A reload keeps the tab's session: the saved token is checked again, and dropped if refused.
  useEffect(() => {
    const token = savedToken();
    if (!token) return;
    signIn(token)
      .then(setSession)
      .catch(() => signOut())
      .finally(() => setRestoring(false));
  }, []);

  if (restoring) return <p aria-busy="true">Signing in…</p>;
  if (!session) return <SignIn onSession={setSession} />;

  const out = () => {
    signOut();
    setSession(null);
    location.hash = "";
  };
  const [page = "vps", id, sub] = route.path;
  const api: Api = session.api;
  const links: (readonly [string, string])[] = [
    ["vps", "VPSes"],
    ...(session.role === "operator" ? OPERATOR_PAGES : []),
  ];
  return (
    <>
      <header>
        <span class="brand">Skiff</span>
        <nav aria-label="Pages">
          {links.map(([key, label]) => (
            <a key={key} href={`#/${key}`} aria-current={page === key ? "page" : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span class="role">
          {session.who}, {session.role}
        </span>
        <button type="button" onClick={out}>
          Sign out
        </button>
      </header>
      <main>
        {crash ? (
          <>
            <ErrorBox error={errorOf(crash)} />
            <button type="button" onClick={resetCrash}>
              Try again
            </button>
          </>
        ) : page === "vps" && id && sub === "console" ? (
          <ConsolePage key={id} api={api} id={id} />
        ) : page === "nodes" ? (
          <NodesPage api={api} />
        ) : page === "migrations" && id ? (
          <MigrationPage key={id} api={api} id={id} />
        ) : page === "migrations" ? (
          <MigrationsPage api={api} vpsId={route.query.get("vps") ?? ""} />
        ) : page === "balancer" ? (
          <BalancerPage api={api} />
        ) : page === "events" ? (
          <EventsPage api={api} />
        ) : (
          <VpsPage api={api} role={session.role} />
        )}
      </main>
    </>
  );
}
