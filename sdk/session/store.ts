import { z } from "zod";

import { ZkPayError } from "../core/errors.js";
import { ChallengeSchema } from "../core/wire.js";
import { CredentialWireSchema, SessionInfoSchema } from "./wire.js";

const uint = z.string().regex(/^\d{1,78}$/);
const bytes32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/);

/** A credential the holder keeps: the issuer's answer, where it is valid, its salt and next index. */
export const StoredCredentialSchema = CredentialWireSchema.extend({
  /** The origin (scheme://host:port) that sold it. */
  origin: z.string(),
  /** Re-derives the holder secrets with the wallet seed (`WalletKeys.credentialSecrets`). */
  salt: uint,
  /** The next presentation index; saved before each presentation is sent. */
  nextIndex: z.number().int().nonnegative(),
});
/** A credential the client holds, with its origin and the next unused presentation index. */
export type StoredCredential = z.infer<typeof StoredCredentialSchema>;

/**
 * A purchase recorded before it is paid (write-ahead): after a crash, the seed, the salt
 * and the chain recover its credential (POST .../recover).
 */
export const PendingPurchaseSchema = z.object({
  origin: z.string(),
  offerId: z.string(),
  salt: uint,
  recoverPath: z.string(),
  createdAt: z.number().int(),
  /** The 402 challenge the payment answers (known once the payment is being prepared). */
  challenge: ChallengeSchema.optional(),
  /** The payment's receipt id (known once the payment is about to be sent). */
  receiptId: bytes32.optional(),
  /** A shielded purchase's payee note (memo and commitment, decimal): a recovery shows it. */
  payeeMemo: z.string().optional(),
  payeeCommitment: uint.optional(),
});
/** A purchase recorded before it was paid (with its challenge and receipt id once known), recovered after a crash. */
export type PendingPurchase = z.infer<typeof PendingPurchaseSchema>;

/** Everything a session client keeps. */
export const SessionStateSchema = z.object({
  v: z.literal(1),
  credentials: z.array(StoredCredentialSchema),
  pending: z.array(PendingPurchaseSchema),
  /** What each origin published (from its 402s), and the tier each route asked for. */
  services: z.record(z.string(), z.object({ info: SessionInfoSchema, routeTiers: z.record(z.string(), z.number()) })),
});
/** What a {@link SessionStore} keeps: credentials, pinned service terms and pending purchases. */
export type SessionState = z.infer<typeof SessionStateSchema>;

/** Where a session client keeps its state. Node: `FileSessionStore` (402zk/node). */
export interface SessionStore {
  /** The stored state, or undefined when nothing was saved yet. */
  load(): Promise<SessionState | undefined>;
  /** Replaces the stored state (atomically: a crash leaves the old or the new one). */
  save(state: SessionState): Promise<void>;
}

/** An empty state. @example const s = emptySessionState() */
export function emptySessionState(): SessionState {
  return { v: 1, credentials: [], pending: [], services: {} };
}

/**
 * Parses stored state; throws `note_store_corrupt` naming the first problem.
 *
 * @example
 * const state = parseSessionState(JSON.parse(text));
 */
export function parseSessionState(raw: unknown): SessionState {
  const r = SessionStateSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ZkPayError("note_store_corrupt", `session store: ${issue?.path.join(".")}: ${issue?.message}`);
  }
  return r.data;
}

/**
 * In-memory store (tests, short-lived agents). Lost on exit: use `FileSessionStore` for
 * credentials you paid for.
 *
 * @example
 * const store = new MemorySessionStore();
 */
export class MemorySessionStore implements SessionStore {
  #state: string | undefined;

  async load(): Promise<SessionState | undefined> {
    return this.#state === undefined ? undefined : parseSessionState(JSON.parse(this.#state));
  }

  async save(state: SessionState): Promise<void> {
    this.#state = JSON.stringify(state);
  }
}

/** A credential's state, for display. */
export interface CredentialSummary {
  origin: string;
  offerId: string;
  tier: number;
  issuedAt: number;
  expiresAt: number;
  maxPresentations: number;
  remaining: number;
  expired: boolean;
  receiptId: string;
}

/**
 * What each stored credential has left at time `now` (unix seconds): what
 * `SessionClient.credentials()` and `402zk credentials` show.
 *
 * @example
 * summarizeCredentials((await store.load()) ?? emptySessionState());
 */
export function summarizeCredentials(state: SessionState, now = Math.floor(Date.now() / 1000)): CredentialSummary[] {
  return state.credentials.map((c) => ({
    origin: c.origin,
    offerId: c.offerId,
    tier: c.tier,
    issuedAt: c.issuedAt,
    expiresAt: c.expiresAt,
    maxPresentations: c.maxPresentations,
    remaining: Math.max(0, c.maxPresentations - c.nextIndex),
    expired: now >= c.expiresAt,
    receiptId: c.receiptId,
  }));
}
