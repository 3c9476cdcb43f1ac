// A test fixture: starts Redis and PostgreSQL like any integration test, prints their pids and
// ports as one JSON line, then waits to be killed (the test kill -9's it).
import { startTestServices } from "../src/services.js";

const s = await startTestServices();
console.log(
  JSON.stringify({
    redis: { pid: s.redis.pid, port: s.redis.port },
    postgres: { pid: s.postgres.pid, port: s.postgres.port },
    dir: s.dir,
  }),
);
setInterval(() => undefined, 60_000);
