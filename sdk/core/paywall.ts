/**
 * What the paywall page (402zk/browser's `paywall-app.ts`) and the server that writes it
 * (402zk/server's `paywall.ts`) share: the page's embedded configuration and the path
 * prefix of the files the gate serves for it.
 */
import type { PaymentRequired } from "@x402/core/types";

/** Where the gate serves the paywall's bundles (`/paywall/`) and the circuit artifacts (`/artifacts/`). */
export const PAYWALL_PREFIX = "/.well-known/402zk";

/** What the page embeds for its script (`#zk402-config`, JSON). */
export interface PaywallPageConfig {
  paymentRequired: PaymentRequired;
  /** Where the prover worker is served. */
  workerUrl: string;
  /** Where the circuit artifacts are served (a directory URL). */
  artifactsBaseUrl: string;
  /** First block to scan for the pool's events. */
  deploymentBlock: number;
  appName?: string;
  /** Default deposit, in tokens (decimal string), shown in the deposit field. */
  suggestedDeposit?: string;
}
