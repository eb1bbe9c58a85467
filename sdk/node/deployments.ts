import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { DeploymentSchema, type Deployment } from "../core/deployment.js";
import { ZkPayError } from "../core/errors.js";

/** Directory of deployment records (`deployments/<network>.json`). */
export const DEPLOYMENTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "deployments");

/**
 * Reads `<dir>/<network>.json`. `dir` defaults to `$ZK402_DEPLOYMENTS_DIR`, else the
 * package's own `deployments/` (read-only inside a consumer's node_modules: keep your
 * own records elsewhere and pass their directory).
 *
 * @example
 * const d = loadDeployment("base-sepolia");
 * const mine = loadDeployment("base-sepolia", "./deployments");
 */
export function loadDeployment(
  network: string,
  dir: string = process.env.ZK402_DEPLOYMENTS_DIR || DEPLOYMENTS_DIR,
): Deployment {
  if (!/^[a-z0-9-]+$/.test(network)) throw new ZkPayError("invalid_argument", `bad network name: ${network}`);
  const file = path.join(dir, `${network}.json`);
  if (!existsSync(file)) {
    throw new ZkPayError(
      "deployment_not_found",
      `no deployment for network "${network}" (${file}); deploy with npm run deploy -- --network ${network}`,
    );
  }
  const r = DeploymentSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
  if (!r.success) throw new ZkPayError("deployment_not_found", `${file} is invalid: ${r.error.issues[0]?.message}`);
  return r.data;
}

/**
 * Writes `deployments/<network>.json` atomically.
 *
 * @example
 * saveDeployment(record);
 */
export function saveDeployment(d: Deployment, dir = DEPLOYMENTS_DIR): string {
  const parsed = DeploymentSchema.parse(d);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${parsed.network}.json`);
  writeFileSync(`${file}.tmp`, JSON.stringify(parsed, null, 2) + "\n");
  renameSync(`${file}.tmp`, file);
  return file;
}
