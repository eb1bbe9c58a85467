import { encodePacked, keccak256, toBytes, type Hex } from "viem";

import { SNARK_SCALAR_FIELD } from "../core/field.js";

/**
 * The `context` of a presentation bound to one request (routes with `bindRequest`):
 *
 *     keccak256(abi.encodePacked("402zk.session-request.v1", METHOD, pathAndQuery, keccak256(body))) mod p
 *
 * METHOD is upper case; pathAndQuery is the request target as sent ("/orders?id=7");
 * body is the request body's bytes: for the header form the raw body (empty when there
 * is none), for the body form (`zk_session` inside a JSON body) the UTF-8 of
 * `JSON.stringify` of the body object without its `zk_session` field. A presentation
 * bound this way verifies for exactly this request.
 *
 * @example
 * const context = requestContext("POST", "/orders", new TextEncoder().encode('{"item":7}'));
 */
export function requestContext(method: string, pathAndQuery: string, body: Uint8Array | string = ""): bigint {
  const bytes = typeof body === "string" ? toBytes(body) : body;
  const h = keccak256(
    encodePacked(
      ["string", "string", "string", "bytes32"],
      ["402zk.session-request.v1", method.toUpperCase(), pathAndQuery, keccak256(bytes) as Hex],
    ),
  );
  return BigInt(h) % SNARK_SCALAR_FIELD;
}
