/**
 * `402zk/mcp`: an MCP server that lets an MCP-capable agent pay 402zk APIs privately from
 * the CLI's wallet, within spend limits the agent cannot change (`402zk mcp` runs it over
 * stdio). See {@link createPayerMcpServer}.
 */
export * from "./server.js";
export * from "./spend.js";
// The CLI's configuration (network, RPC, wallet folder, EOA from the environment): what
// `PayerMcpOptions.context` returns, for a program that runs the server itself.
export { createContext, formatTx, type CliContext, type GlobalOptions } from "../cli/context.js";
