/** Log levels, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Field names whose values never reach a log line, whatever their nesting. */
const SECRET_FIELD = /(private.?key|secret|password|mnemonic|seed|api.?key|authorization|raw)/i;

/** A structured logger: one JSON object per line. */
export interface Logger {
  /** Logs at debug level. */
  debug(msg: string, fields?: Record<string, unknown>): void;
  /** Logs at info level. */
  info(msg: string, fields?: Record<string, unknown>): void;
  /** Logs at warn level. */
  warn(msg: string, fields?: Record<string, unknown>): void;
  /** Logs at error level. */
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every line. */
  child(fields: Record<string, unknown>): Logger;
}

/** Copy of `v` with secret-named fields replaced and bigints as strings. */
export function redact(v: unknown, depth = 0): unknown {
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Error) return { name: v.name, message: v.message };
  if (v === null || typeof v !== "object" || depth > 6) return v;
  if (Array.isArray(v)) return v.slice(0, 50).map((x) => redact(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = SECRET_FIELD.test(k) ? "[redacted]" : redact(x, depth + 1);
  return out;
}

/**
 * JSON-lines logger for the facilitator service: `{"time","level","msg",...fields}`.
 * Fields named like a key, secret, password, seed, API key or raw transaction are
 * replaced by "[redacted]"; the service never logs a proof's inputs (it never has a
 * note's secrets), only ids, payees, amounts and transaction hashes.
 *
 * @example
 * const log = jsonLogger({ level: "info" });
 * log.info("settled", { id, tx });
 */
export function jsonLogger(
  o: { level?: LogLevel; write?: (line: string) => void; base?: Record<string, unknown> } = {},
): Logger {
  const min = ORDER[o.level ?? "info"];
  const write = o.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const base = o.base ?? {};
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    const rec = { time: new Date().toISOString(), level, msg, ...(redact({ ...base, ...fields }) as object) };
    write(JSON.stringify(rec));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => jsonLogger({ ...o, base: { ...base, ...fields } }),
  };
}

/** A logger that drops everything (library use without logs). */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};
