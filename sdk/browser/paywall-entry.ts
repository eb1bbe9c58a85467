/** Entry of the `paywall.js` bundle: mounts the paywall on the page that loads it. */
import { mountPaywall } from "./paywall-app.js";
import type { Eip1193Provider } from "./seed.js";

mountPaywall((globalThis as { ethereum?: Eip1193Provider }).ethereum);
