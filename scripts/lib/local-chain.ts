import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { network } from "hardhat";
import type { EIP1193Provider } from "viem";

/**
 * Starts Hardhat's in-process EVM and serves it as JSON-RPC over HTTP on 127.0.0.1,
 * so that SDK clients, servers and the demo talk to it exactly as to a real node.
 *
 * @example
 * const chain = await startLocalChain();
 * const publicClient = createPublicClient({ transport: http(chain.url) });
 * await chain.close();
 */
export async function startLocalChain(opts: { port?: number; chainId?: number } = {}) {
  const connection = await network.create(opts.chainId ? { override: { chainId: opts.chainId } } : undefined);
  const provider = connection.provider as unknown as EIP1193Provider;
  const server: Server = createServer((req, res) => {
    if (req.method !== "POST") {
      res.writeHead(405).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
          res.writeHead(400, { "content-type": "application/json" });
          res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "parse error" } }));
          return;
        }
        const one = async (m: { id?: unknown; method: string; params?: unknown[] }) => {
          try {
            const result = await provider.request({ method: m.method as never, params: (m.params ?? []) as never });
            return { jsonrpc: "2.0", id: m.id ?? null, result };
          } catch (err) {
            const e = err as { code?: number; message?: string; data?: unknown };
            return {
              jsonrpc: "2.0",
              id: m.id ?? null,
              error: { code: e.code ?? -32000, message: e.message ?? String(err), data: e.data },
            };
          }
        };
        const out = Array.isArray(body) ? await Promise.all(body.map(one)) : await one(body as never);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(out, (_k, v: unknown) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v)));
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    connection,
    ethers: connection.ethers,
    provider,
    url: `http://127.0.0.1:${port}`,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await connection.close();
    },
  };
}
