// Prisma 6 config for runbook's peer-tool integration tests (tests/integration/test_peers_cli.cpp).
// Sits under tests/peers/ so `prisma/config`, `@prisma/adapter-pg` and `pg` resolve from
// tests/peers/node_modules. Offline: the JS/wasm schema engine runs through @prisma/adapter-pg
// (engine: "js"), so no engine binary has to be downloaded. The migrations directory comes from
// PRISMA_MIGRATIONS_DIR (absolute, or relative to this file), the database from DATABASE_URL.
// PRISMA_QUERY_ENGINE_LIBRARY must name an existing file (any, e.g. empty): the CLI otherwise
// tries to download the query engine at start-up, which migrate never loads. Set
// CHECKPOINT_DISABLE=1 too: otherwise the CLI looks up checkpoint.prisma.io (its update check).
import { defineConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";

// prisma/orm#27403: @prisma/adapter-pg rejects result columns of type `name` (OID 19),
// which the schema engine's own catalog queries return. Report them as text (OID 25).
for (const proto of [pg.Client.prototype, pg.Pool.prototype] as any[]) {
  const orig = proto.query;
  proto.query = function (...args: any[]) {
    const r = orig.apply(this, args);
    if (r && typeof r.then === "function") {
      return r.then((res: any) => {
        for (const f of res?.fields ?? []) if (f.dataTypeID === 19) f.dataTypeID = 25;
        return res;
      });
    }
    return r;
  };
}

// The wasm schema engine arms a 10 s timer (a timeout around its work) that it never clears, so
// `migrate deploy` waits 10 s after "All migrations have been successfully applied." before
// exiting. Timers of 5 s or more armed from the wasm module are unref'd: they still fire while
// the CLI has work, but no longer keep a finished CLI alive.
const setTimeoutOrig = globalThis.setTimeout;
(globalThis as any).setTimeout = function (fn: any, ms?: number, ...rest: any[]) {
  const t: any = (setTimeoutOrig as any)(fn, ms, ...rest);
  if (typeof ms === "number" && ms >= 5000 && String(new Error().stack).includes("wasm://")) t?.unref?.();
  return t;
};

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: "schema.prisma",
  migrations: { path: process.env.PRISMA_MIGRATIONS_DIR ?? "migrations" },
  async adapter() {
    // allowExitOnIdle: an idle pooled connection does not keep the CLI alive (pg's default
    // idleTimeoutMillis is 10 s).
    return new PrismaPg({ connectionString: process.env.DATABASE_URL!, allowExitOnIdle: true });
  },
});
