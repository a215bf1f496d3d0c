/** The agent's version and install root, read from package.json next to dist/ (or the sources, under vitest). */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string };
      if (pkg.name === "campus-edge-agent") return dir;
    } catch {
      // not here; look one folder up
    }
    dir = dirname(dir);
  }
  throw new Error("cannot find the campus-edge-agent package root");
}

export const PACKAGE_ROOT = findRoot();
export const VERSION: string = (JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }).version;
