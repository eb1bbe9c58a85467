/**
 * Counters, gauges and latency summaries in Prometheus' text exposition format
 * (`GET /metrics`), with no dependency.
 *
 * @example
 * const m = new Metrics();
 * m.inc("zk402_settled_total");
 * m.observe("zk402_settle_seconds", 0.42);
 * res.end(m.render());
 */
export class Metrics {
  readonly #counters = new Map<string, number>();
  readonly #gauges = new Map<string, () => number>();
  readonly #samples = new Map<string, number[]>();
  readonly #help = new Map<string, string>();

  /** Describes a metric (its # HELP line). */
  help(name: string, text: string): this {
    this.#help.set(name, text);
    return this;
  }

  /** Adds `by` to the counter `name` with these labels. */
  inc(name: string, labels: Record<string, string> = {}, by = 1): void {
    const k = key(name, labels);
    this.#counters.set(k, (this.#counters.get(k) ?? 0) + by);
  }

  /** A gauge read when the metrics are rendered. */
  gauge(name: string, read: () => number, labels: Record<string, string> = {}): void {
    this.#gauges.set(key(name, labels), read);
  }

  /** Records one observation (seconds) of a summary; the last 1,000 are kept. */
  observe(name: string, value: number): void {
    const s = this.#samples.get(name) ?? [];
    s.push(value);
    if (s.length > 1000) s.shift();
    this.#samples.set(name, s);
  }

  /** The current value of the counter `name` with these labels (0 if never incremented). */
  counter(name: string, labels: Record<string, string> = {}): number {
    return this.#counters.get(key(name, labels)) ?? 0;
  }

  /** Every metric in Prometheus' text format (what `GET /metrics` serves). */
  render(): string {
    const lines: string[] = [];
    const seen = new Set<string>();
    const head = (k: string, type: string) => {
      const name = k.split("{")[0]!;
      if (seen.has(name)) return;
      seen.add(name);
      const h = this.#help.get(name);
      if (h) lines.push(`# HELP ${name} ${h}`);
      lines.push(`# TYPE ${name} ${type}`);
    };
    for (const [k, v] of [...this.#counters].sort()) {
      head(k, "counter");
      lines.push(`${k} ${v}`);
    }
    for (const [k, read] of [...this.#gauges].sort()) {
      head(k, "gauge");
      let v: number;
      try {
        v = read();
      } catch {
        v = Number.NaN;
      }
      lines.push(`${k} ${Number.isFinite(v) ? v : "NaN"}`);
    }
    for (const [name, s] of [...this.#samples].sort()) {
      head(name, "summary");
      const sorted = [...s].sort((a, b) => a - b);
      for (const q of [0.5, 0.9, 0.99]) {
        const v = sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
        lines.push(`${name}{quantile="${q}"} ${v}`);
      }
      lines.push(`${name}_count ${s.length}`);
      lines.push(`${name}_sum ${s.reduce((a, b) => a + b, 0)}`);
    }
    return `${lines.join("\n")}\n`;
  }
}

function key(name: string, labels: Record<string, string>): string {
  const l = Object.entries(labels);
  if (l.length === 0) return name;
  return `${name}{${l.map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, "_")}"`).join(",")}}`;
}
