/**
 * 402zk for axios: session credentials (and zk-exact payments) with an axios instance,
 * as {@link SessionClient.fetch} does them with fetch. For pay-per-request only, use
 * `@x402/axios`'s `wrapAxiosWithPayment` with 402zk/client's `ZkExactClientScheme`.
 */
import type { AxiosInstance } from "axios";

import type { SessionClient } from "../session/client.js";

/**
 * Makes `instance` send its requests through `sessions`: a stored credential is presented
 * (header or body, as the client is configured), a 402 buys one or pays the request, and
 * a refusal the client cannot get past rejects with an AxiosError whose `cause` is the
 * `ZkPayError`. It uses axios's own fetch adapter with `sessions.fetch` as its fetch, so
 * axios's config, interceptors and response handling stay as they are.
 *
 * @example
 * const api = withZkSessions(axios.create({ baseURL: "http://127.0.0.1:4021" }), sessions);
 * const { data } = await api.get("/data");
 */
export function withZkSessions(instance: AxiosInstance, sessions: SessionClient): AxiosInstance {
  instance.defaults.adapter = "fetch";
  instance.defaults.env = { ...instance.defaults.env, fetch: sessionFetch(sessions) };
  return instance;
}

/**
 * `sessions.fetch` as axios's fetch adapter calls a fetch (with a `Request`): the body is
 * read into bytes, since a session request may be sent twice (after a purchase).
 *
 * @example
 * axios.create({ adapter: "fetch", env: { fetch: sessionFetch(sessions) } });
 */
export function sessionFetch(
  sessions: SessionClient,
): (input: URL | Request | string, init?: RequestInit) => Promise<Response> {
  return async (input, init) => {
    const request = new Request(input, init);
    const hasBody = request.method !== "GET" && request.method !== "HEAD";
    const body = hasBody ? new Uint8Array(await request.arrayBuffer()) : undefined;
    return sessions.fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: body?.length ? body : undefined,
      signal: request.signal,
    });
  };
}
