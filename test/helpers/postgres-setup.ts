// The vitest project "postgres": one PostgreSQL server for the whole run, stopped and removed after.
import type { TestProject } from "vitest/node";
import { postgresMissing, startPostgres } from "./postgres.js";

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  const missing = postgresMissing();
  if (missing) {
    project.provide("postgres", { missing });
    return;
  }
  const server = await startPostgres();
  project.provide("postgres", { url: server.url() });
  return () => server.stop();
}
