import type { IncomingHttpHeaders } from "node:http";
import { BlockList, isIP } from "node:net";

import { ZkPayError } from "../core/errors.js";

/**
 * The reverse proxies whose `X-Forwarded-For` entries a server believes, and the one rule
 * by which every part of the SDK that limits or queues by client address (the facilitator
 * service's cost limiter and fair queue, the resource server's admission control, session
 * presentations) names the client of a request:
 *
 * - a request whose socket peer is not a trusted proxy comes from that peer, whatever
 *   its `X-Forwarded-For` says (a client talking to the server directly cannot choose
 *   its identity);
 * - otherwise the header is read from the right, where each proxy appends the address
 *   it received the request from (as nginx's `$proxy_add_x_forwarded_for` does), and the
 *   client is the right-most entry that is not a trusted proxy. Entries to its left were
 *   written by the client and are never read;
 * - an entry that is not an IP address stops the walk at the trusted hop that wrote it
 *   (the nearest address the server can vouch for); an empty header leaves the peer.
 *
 * Entries are IPv4 or IPv6 addresses or CIDR blocks (`"127.0.0.1"`, `"10.0.0.0/8"`,
 * `"fd00::/8"`); matching uses Node's `net.BlockList`. Addresses are returned in one
 * canonical form (IPv4-mapped IPv6 as IPv4, IPv6 compressed and lowercase, no port or
 * zone), so one client has one key.
 *
 * @example
 * const proxies = new TrustedProxies(["127.0.0.1", "10.0.0.0/8"]);
 * proxies.clientOf("10.0.0.5", "203.0.113.9, 198.51.100.7"); // "198.51.100.7"
 * proxies.clientOf("198.51.100.7", "1.2.3.4");                // "198.51.100.7" (not a proxy: header ignored)
 */
export class TrustedProxies {
  readonly #list = new BlockList();
  /** The entries as given (for logs and errors). */
  readonly entries: readonly string[];

  /** Throws `invalid_argument` naming the first entry that is not an address or CIDR block. */
  constructor(entries: readonly string[] = []) {
    if (!Array.isArray(entries)) {
      throw new ZkPayError("invalid_argument", "trustedProxies must be a list of addresses or CIDR blocks");
    }
    for (const entry of entries) addEntry(this.#list, entry);
    this.entries = [...entries];
  }

  /** Whether `address` (any textual form) is one of the trusted proxies. */
  has(address: string): boolean {
    const a = canonicalAddress(address);
    return a !== undefined && this.#list.check(a, isIP(a) === 4 ? "ipv4" : "ipv6");
  }

  /**
   * The client of a request that came from socket peer `peer` with `X-Forwarded-For`
   * `forwardedFor` (a repeated header as Node gives it, a string or a list).
   */
  clientOf(peer: string | undefined, forwardedFor: string | readonly string[] | undefined): string {
    const from = peer === undefined ? undefined : canonicalAddress(peer);
    if (from === undefined) return peer || "unknown";
    if (forwardedFor === undefined || !this.has(from)) return from;
    const hops = (typeof forwardedFor === "string" ? forwardedFor : forwardedFor.join(",")).split(",");
    let client = from;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = canonicalAddress(hops[i]!);
      // Not an address: the trusted hop that wrote it is as far as anyone can vouch.
      if (hop === undefined) return client;
      client = hop;
      if (!this.has(hop)) return hop;
    }
    // Every hop is a trusted proxy: the left-most one is the client.
    return client;
  }
}

/**
 * The client address of a node:http (or Express) request under `proxies` (none: the
 * socket peer). See {@link TrustedProxies} for the rule.
 *
 * @example
 * const ip = clientAddress(req, new TrustedProxies(["127.0.0.1"]));
 */
export function clientAddress(
  req: { socket?: { remoteAddress?: string }; headers: IncomingHttpHeaders },
  proxies?: TrustedProxies,
): string {
  const peer = req.socket?.remoteAddress;
  if (!proxies) return (peer && canonicalAddress(peer)) || peer || "unknown";
  return proxies.clientOf(peer, req.headers["x-forwarded-for"]);
}

/**
 * One textual form per address, or undefined for text that is not an IP address:
 * surrounding spaces, a port (`1.2.3.4:80`, `[::1]:80`), brackets and an IPv6 zone
 * (`%eth0`) dropped; IPv4-mapped IPv6 (`::ffff:1.2.3.4`) as IPv4; IPv6 compressed and
 * lowercase (WHATWG URL host serialization).
 */
export function canonicalAddress(text: string): string | undefined {
  let s = text.trim();
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    if (end < 0 || !/^(?::\d{1,5})?$/.test(s.slice(end + 1))) return undefined;
    s = s.slice(1, end);
  } else if (/^[\d.]+:\d{1,5}$/.test(s)) {
    s = s.slice(0, s.lastIndexOf(":"));
  }
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  const kind = isIP(s);
  if (kind === 4) return s;
  if (kind !== 6) return undefined;
  const v6 = new URL(`http://[${s}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
  if (!mapped) return v6;
  const hi = parseInt(mapped[1]!, 16);
  const lo = parseInt(mapped[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

function addEntry(list: BlockList, entry: unknown): void {
  const bad = () =>
    new ZkPayError(
      "invalid_argument",
      `trustedProxies: ${JSON.stringify(entry)} is not an IP address or CIDR block (e.g. "127.0.0.1", "10.0.0.0/8", "fd00::/8")`,
    );
  if (typeof entry !== "string") throw bad();
  const [addr, prefix, extra] = entry.trim().split("/");
  if (extra !== undefined || addr === undefined || addr.includes("[")) throw bad();
  const a = canonicalAddress(addr);
  if (a === undefined || (addr.includes(":") && isIP(addr.split("%")[0]!) !== 6)) throw bad();
  const v4 = isIP(a) === 4;
  if (prefix === undefined) {
    list.addAddress(a, v4 ? "ipv4" : "ipv6");
    return;
  }
  if (!/^\d{1,3}$/.test(prefix)) throw bad();
  let bits = Number(prefix);
  // An IPv4-mapped block (::ffff:10.0.0.0/104) is the IPv4 block it maps.
  if (v4 && isIP(addr) === 6) bits -= 96;
  if (bits < 0 || bits > (v4 ? 32 : 128)) throw bad();
  list.addSubnet(a, bits, v4 ? "ipv4" : "ipv6");
}
