/**
 * `402zk doctor`: checks that a network's deployment is usable from here, one line per
 * check (ok, a warning, or what is wrong and what to do), exit 0 when every check passes,
 * 1 otherwise (and, with --strict, when any check warns).
 *
 *   402zk --network base-sepolia --rpc $BASE_SEPOLIA_RPC_URL doctor --relayer 0x... --redis redis://127.0.0.1:6379
 */
import { readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import tls from "node:tls";

import { createPublicClient, formatEther, http, isAddress, type Address, type Hex, type PublicClient } from "viem";

import { facilitatorAbi } from "../core/abi.js";
import type { Deployment } from "../core/deployment.js";
import { resolveTokenDomain } from "../core/token-domain.js";
import { ARTIFACTS_DIR, loadVerificationKey } from "../node/artifacts.js";
import { DEPLOYMENTS_DIR, loadDeployment } from "../node/deployments.js";
import { RPC_ENV, defaultRpc } from "./context.js";

/** Gas of one server-settled payment (bench/results.json payGas, median at depth 10). */
export const PAY_GAS = 472_000n;
/** Payments the relayer's balance should cover before doctor calls it low. */
export const RELAYER_MIN_PAYMENTS = 20n;

/** Chain ids of local development chains (Hardhat, anvil: 31337; Ganache and geth --dev: 1337). */
export const LOCAL_CHAIN_IDS: ReadonlySet<number> = new Set([31337, 1337]);

/** The environment variable that lets `scripts/deploy.ts` deploy a development setup to a non-local chain. */
export const ALLOW_DEVELOPMENT_SETUP_ENV = "ZK402_ALLOW_DEVELOPMENT_SETUP";
/** Its one accepted value: it names the risk the operator takes. */
export const ALLOW_DEVELOPMENT_SETUP_VALUE = "i-understand-anyone-with-the-setup-entropy-can-forge-proofs";

/**
 * Whether a pool on `chainId` with these circuit keys risks its notes: a development setup
 * (one machine's entropy, see the README's "Trusted setup") is safe only on a local chain.
 * Returns undefined when there is no risk, else what to tell the operator.
 *
 * @example
 * developmentSetupRisk(84532, true); // "chain 84532 is not a local chain and the circuit keys are a DEVELOPMENT setup: ..."
 * developmentSetupRisk(31337, true); // undefined
 */
export function developmentSetupRisk(chainId: number, developmentSetup: boolean): string | undefined {
  if (!developmentSetup || LOCAL_CHAIN_IDS.has(chainId)) return undefined;
  return (
    `chain ${chainId} is not a local chain and the circuit keys are a DEVELOPMENT setup: whoever ran it ` +
    `could forge proofs and take every note in the pool; run a trusted-setup ceremony first (README, "Trusted setup")`
  );
}

/**
 * The circuit version a manifest or a record names when it names none: everything built or
 * deployed before `payment-v2` (#19, key-owned notes) is the first payment circuit.
 */
export const UNVERSIONED_CIRCUIT = "payment-v1";

/**
 * The payment circuit version of the artifacts this SDK proves with: the `version` of
 * `circuits/artifacts/payment.manifest.json` (written by the build from the registry),
 * {@link UNVERSIONED_CIRCUIT} for a manifest without one.
 *
 * @example
 * artifactsCircuitVersion(); // "payment-v2"
 */
export function artifactsCircuitVersion(dir = ARTIFACTS_DIR): string {
  const m = JSON.parse(readFileSync(path.join(dir, "payment.manifest.json"), "utf8")) as { version?: unknown };
  return typeof m.version === "string" && m.version !== "" ? m.version : UNVERSIONED_CIRCUIT;
}

/**
 * The doctor's line comparing the circuit version of the deployment record with the
 * artifacts': a different version is a WARN (proofs of one circuit do not verify against the
 * other's key; the "verification key" check then fails too and says what to do).
 *
 * @example
 * circuitVersionCheck("payment-v2", "payment-v2"); // { name: "circuit version", ok: true, message: "payment-v2 ..." }
 */
export function circuitVersionCheck(recorded: string | undefined, artifacts: string): DoctorCheck {
  const record = recorded ?? UNVERSIONED_CIRCUIT;
  const named = recorded === undefined ? " (the record names none: deployed before versions were recorded)" : "";
  if (record === artifacts)
    return {
      name: "circuit version",
      ok: true,
      message: `deployment and SDK artifacts are both ${artifacts}${named}`,
    };
  return {
    name: "circuit version",
    ok: true,
    warn: true,
    message:
      `the deployment was made for ${record}${named}, this SDK's artifacts are ${artifacts}: ` +
      `their proofs and notes do not mix; install the 402zk version the pool was deployed with, or redeploy the pool`,
  };
}

export interface DoctorOptions {
  network: string;
  rpc?: string;
  /** Directory of deployment records (default: $ZK402_DEPLOYMENTS_DIR, else the package's). */
  deployments?: string;
  /** A relayer (the key of `402zk serve` or `402zk facilitator`) whose ETH balance to check. */
  relayer?: Address;
  /**
   * The CLI's own EOA (--private-key / ZK402_PRIVATE_KEY), checked when no relayer is named:
   * it pays the gas of deposits, withdrawals and client-settled payments (a payer's key, not a relayer's).
   */
  eoa?: Address;
  /** Redis URL to PING (redis://[user:pass@]host:port, rediss:// for TLS). */
  redis?: string;
  /** Per-request timeout, ms (default 10 s). */
  timeoutMs?: number;
}

export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** A risk rather than a failure: exit 0 unless `--strict`. */
  warn?: boolean;
  /** What was found (ok) or what is wrong and what to do (not ok). */
  message: string;
}

/** The vkey's numbers (alpha, beta, gamma, delta, IC) as minimal big-endian hex strings. */
function vkeyConstants(vkey: unknown): string[] {
  const v = vkey as Record<string, unknown>;
  const nums: string[] = [];
  const walk = (x: unknown) => {
    if (Array.isArray(x)) x.forEach(walk);
    else if (typeof x === "string" && /^\d+$/.test(x) && x !== "0" && x !== "1") {
      const h = BigInt(x).toString(16);
      nums.push(h.length % 2 ? `0${h}` : h);
    }
  };
  for (const k of ["vk_alpha_1", "vk_beta_2", "vk_gamma_2", "vk_delta_2", "IC"]) walk(v[k]);
  return nums;
}

/** PINGs Redis over a raw RESP connection (AUTH first when the URL has a password). */
async function pingRedis(url: string, timeoutMs: number): Promise<string> {
  const u = new URL(url);
  const port = Number(u.port || 6379);
  const host = u.hostname || "127.0.0.1";
  const cmd = (...args: string[]) =>
    `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
  let payload = "";
  if (u.password) {
    const pass = decodeURIComponent(u.password);
    payload += u.username ? cmd("AUTH", decodeURIComponent(u.username), pass) : cmd("AUTH", pass);
  }
  payload += cmd("PING");
  return await new Promise<string>((resolve, reject) => {
    const socket =
      u.protocol === "rediss:" ? tls.connect({ host, port, servername: host }) : net.connect({ host, port });
    let buf = "";
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
    };
    const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.once(u.protocol === "rediss:" ? "secureConnect" : "connect", () => socket.write(payload));
    socket.on("data", (d: Buffer) => {
      buf += d.toString("utf8");
      if (buf.startsWith("-")) return done(new Error(buf.split("\r\n")[0]!.slice(1)));
      const lines = buf.split("\r\n");
      const replies = lines.filter((l) => l.startsWith("+") || l.startsWith("-"));
      const bad = replies.find((l) => l.startsWith("-"));
      if (bad) return done(new Error(bad.slice(1)));
      if (replies.includes("+PONG")) {
        done();
        resolve("PONG");
      }
    });
    socket.on("error", (e) => done(e));
  });
}

const short = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0]!.slice(0, 200);

/** Runs every check; never throws. */
export async function runDoctor(opts: DoctorOptions): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const add = (name: string, ok: boolean, message: string) => {
    checks.push({ name, ok, message });
    return ok;
  };
  const warn = (name: string, message: string) => checks.push({ name, ok: true, warn: true, message });
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const dir = opts.deployments ?? (process.env.ZK402_DEPLOYMENTS_DIR || DEPLOYMENTS_DIR);

  // 1. The deployment record.
  let d: Deployment | undefined;
  try {
    d = loadDeployment(opts.network, dir);
    add("deployment record", true, `${dir}/${opts.network}.json (chain ${d.chainId}, pool ${d.facilitator})`);
  } catch (e) {
    add(
      "deployment record",
      false,
      `${short(e)}: deploy first (npx hardhat run scripts/deploy.ts --network ${opts.network}) or pass --deployments DIR`,
    );
  }

  // 2. RPC reachability and chain id.
  const rpc = opts.rpc ?? defaultRpc(opts.network);
  let client: PublicClient | undefined;
  if (!rpc) {
    add(
      "rpc",
      false,
      `no RPC URL for ${opts.network}: pass --rpc URL` +
        (RPC_ENV[opts.network]
          ? ` or set ${RPC_ENV[opts.network]} in the environment (the CLI does not read Hardhat's keystore)`
          : ""),
    );
  } else {
    const c = createPublicClient({ transport: http(rpc, { timeout: timeoutMs, retryCount: 0 }) }) as PublicClient;
    try {
      const [chainId, block] = await Promise.all([c.getChainId(), c.getBlockNumber()]);
      add("rpc", true, `${rpc} answers (chain ${chainId}, block ${block})`);
      if (d) {
        if (chainId === d.chainId) {
          add("chain id", true, `${chainId} as in the record`);
          client = c;
        } else {
          add(
            "chain id",
            false,
            `RPC is on chain ${chainId}, the ${opts.network} record on ${d.chainId}: point --rpc at a ${opts.network} node or pick the right --network`,
          );
        }
      }
    } catch (e) {
      add("rpc", false, `${rpc} is not reachable (${short(e)}): check the URL, the node, your network`);
    }
  }

  // The circuit keys: a development setup on a chain that is not local is a warning
  // (an error with --strict): anyone holding that setup's entropy can forge proofs.
  if (d) {
    const chainId = d.chainId;
    const risk = developmentSetupRisk(chainId, d.circuit.developmentSetup === true);
    if (risk) warn("trusted setup", risk);
    else
      add(
        "trusted setup",
        true,
        d.circuit.developmentSetup ? `development setup on local chain ${chainId}` : "not a development setup",
      );
  }

  // The circuit version of the record against the SDK's artifacts: a pool deployed for
  // another version refuses this SDK's proofs (and its notes have another format).
  if (d) {
    try {
      const c = circuitVersionCheck(d.circuit.version, artifactsCircuitVersion());
      if (c.warn) warn(c.name, c.message);
      else add(c.name, c.ok, c.message);
    } catch (e) {
      add("circuit version", false, `${short(e)}: reinstall 402zk (circuits/artifacts)`);
    }
  }

  // 3. The contracts, their wiring, the verification key and the token's EIP-712 domain.
  if (d && client) {
    const c = client;
    const contracts: [string, string][] = [
      ["facilitator", d.facilitator],
      ["token", d.token],
      ["verifier", d.verifier],
      ["poseidonT3", d.poseidonT3],
      ["poseidonT2", d.poseidonT2],
    ];
    const codes = new Map<string, Hex | undefined>();
    const missing: string[] = [];
    for (const [name, addr] of contracts) {
      const code = await c.getCode({ address: addr as Address }).catch(() => undefined);
      codes.set(name, code);
      if (!code || code === "0x") missing.push(`${name} ${addr}`);
    }
    const codeOk = add(
      "contract code",
      missing.length === 0,
      missing.length === 0
        ? `code at all ${contracts.length} recorded addresses`
        : `no code at ${missing.join(", ")}: the record is for another chain or a reset node; redeploy (scripts/deploy.ts) or fix the record`,
    );
    if (codeOk) {
      try {
        const [verifier, token] = await Promise.all([
          c.readContract({ address: d.facilitator as Address, abi: facilitatorAbi, functionName: "verifier" }),
          c.readContract({ address: d.facilitator as Address, abi: facilitatorAbi, functionName: "token" }),
        ]);
        const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
        add(
          "pool wiring",
          same(verifier, d.verifier) && same(token, d.token),
          same(verifier, d.verifier) && same(token, d.token)
            ? "the pool uses the recorded verifier and token"
            : `the pool uses verifier ${verifier} and token ${token}, the record says ${d.verifier} and ${d.token}: fix the record`,
        );
      } catch (e) {
        add("pool wiring", false, `the facilitator does not answer verifier()/token() (${short(e)}): not a 402zk pool`);
      }
    }
    try {
      const { vkey, vkeySha256 } = loadVerificationKey();
      add(
        "verification key",
        vkeySha256 === d.circuit.vkeySha256,
        vkeySha256 === d.circuit.vkeySha256
          ? `record and SDK share vkey ${vkeySha256.slice(0, 16)}…`
          : `the record's vkey ${d.circuit.vkeySha256.slice(0, 16)}… is not this SDK's ${vkeySha256.slice(0, 16)}…: proofs would be refused; install the 402zk version the pool was deployed with, or redeploy`,
      );
      const code = codes.get("verifier");
      if (code && code !== "0x") {
        const lower = code.toLowerCase();
        const absent = vkeyConstants(vkey).filter((h) => !lower.includes(h));
        add(
          "verifier contract",
          absent.length === 0,
          absent.length === 0
            ? "the verifier's bytecode holds every constant of the SDK's vkey"
            : `${absent.length} vkey constants are missing from the verifier's bytecode: the on-chain verifier is for another circuit or setup; redeploy`,
        );
      }
    } catch (e) {
      add("verification key", false, `${short(e)}: reinstall 402zk (circuits/artifacts)`);
    }
    if (codeOk) {
      try {
        const domain = await resolveTokenDomain({
          token: d.token as Address,
          chainId: d.chainId,
          call: async (data) => (await c.call({ to: d.token as Address, data })).data,
        });
        const recorded = { name: d.token_info.eip712Name ?? d.token_info.name, version: d.token_info.eip712Version };
        const same = domain.name === recorded.name && domain.version === recorded.version;
        add(
          "token EIP-712 domain",
          same,
          same
            ? `${domain.name} / version ${domain.version} (${domain.source})`
            : `the token signs as ${domain.name} / version ${domain.version}, the record says ${recorded.name} / ${recorded.version}: permit and authorization deposits would fail; fix token_info in the record`,
        );
      } catch (e) {
        add("token EIP-712 domain", false, short(e));
      }
    }
  }

  // 4. The gas balance of the relayer, or else of the CLI's own EOA (a payer's key, named so).
  const gasAccount = opts.relayer
    ? { address: opts.relayer, check: "relayer balance", who: `relayer ${opts.relayer}`, per: "payments" }
    : opts.eoa
      ? {
          address: opts.eoa,
          check: "EOA balance",
          who: `your EOA ${opts.eoa} (--private-key / ZK402_PRIVATE_KEY: pays gas for deposits, withdrawals, client-settled payments)`,
          per: "transactions",
        }
      : undefined;
  if (gasAccount) {
    const { address, check, who, per } = gasAccount;
    if (!isAddress(address, { strict: false })) {
      add(check, false, `${address} is not an address`);
    } else if (client) {
      try {
        const [balance, gasPrice] = await Promise.all([client.getBalance({ address }), client.getGasPrice()]);
        const perPayment = PAY_GAS * gasPrice;
        const need = perPayment * RELAYER_MIN_PAYMENTS;
        const payments = perPayment > 0n ? balance / perPayment : undefined;
        add(
          check,
          balance >= need && balance > 0n,
          `${who} has ${formatEther(balance)} ETH` +
            (payments !== undefined ? `, ~${payments} ${per} at ${formatEther(gasPrice, "gwei")} gwei` : "") +
            (balance >= need && balance > 0n
              ? ""
              : `: send it at least ${formatEther(need > 0n ? need : 10n ** 15n)} ETH (${RELAYER_MIN_PAYMENTS} ${per} of ~${PAY_GAS} gas)`),
        );
      } catch (e) {
        add(check, false, `cannot read the balance of ${address} (${short(e)})`);
      }
    } else {
      add(check, false, "skipped: no working RPC on the record's chain");
    }
  }

  // 5. Redis.
  if (opts.redis) {
    try {
      await pingRedis(opts.redis, Math.min(timeoutMs, 5_000));
      add("redis", true, `${new URL(opts.redis).host} answers PONG`);
    } catch (e) {
      add(
        "redis",
        false,
        `${opts.redis.replace(/\/\/[^@]*@/, "//***@")} does not answer PING (${short(e)}): start Redis or fix the URL`,
      );
    }
  }
  return checks;
}

/** One line per check: ok, WARN or FAIL. */
export function formatDoctor(checks: DoctorCheck[]): string {
  return checks.map((c) => `${!c.ok ? "FAIL" : c.warn ? "WARN" : "ok  "}  ${c.name}: ${c.message}`).join("\n");
}

/** Doctor's exit decision: failed checks, and with `strict` warnings too. */
export function doctorVerdict(checks: DoctorCheck[], strict = false): { ok: boolean; failed: string[] } {
  const failed = checks.filter((c) => !c.ok || (strict && c.warn)).map((c) => c.name);
  return { ok: failed.length === 0, failed };
}
