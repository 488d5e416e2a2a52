/**
 * The Prometheus text exposition format (version 0.0.4), written directly: `# HELP` and
 * `# TYPE` lines, then one sample per line with escaped label values. Small and fully
 * specified (https://prometheus.io/docs/instrumenting/exposition_formats/), so oq writes it
 * itself rather than depend on prom-client, whose entry module loads Node's `cluster`,
 * `v8` and `perf_hooks` (absent on Cloudflare Workers) for its default metrics.
 *
 * @module
 */

/** The `Content-Type` of a Prometheus text answer. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** The labels of one sample. */
export type Labels = Readonly<Record<string, string>>;

/** Metric types this writer emits. */
export type MetricType = "counter" | "gauge" | "histogram";

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A label value escaped for the text format: backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A sample value in the text format (`+Inf`, `-Inf`, `NaN` spelled as Prometheus reads them). */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function labelText(labels: Labels | undefined): string {
  const keys = labels ? Object.keys(labels) : [];
  if (keys.length === 0) return "";
  return `{${
    keys.map((k) => {
      if (!LABEL_RE.test(k)) throw new TypeError(`Invalid label name ${JSON.stringify(k)}`);
      return `${k}="${escapeLabelValue(labels![k]!)}"`;
    }).join(",")
  }}`;
}

/**
 * Builds one exposition: metric families in the order they are added, each announced once.
 *
 * @example
 * ```ts
 * import { Exposition } from "./prometheus.ts";
 * const e = new Exposition();
 * e.family("oq_tasks", "gauge", "Tasks by state");
 * e.sample("oq_tasks", 3, { state: "ready" });
 * console.log(e.text()); // "# HELP oq_tasks Tasks by state\n# TYPE oq_tasks gauge\noq_tasks{state=\"ready\"} 3\n"
 * ```
 */
export class Exposition {
  readonly #lines: string[] = [];
  readonly #families = new Set<string>();

  /** Announce a metric family (`# HELP`, `# TYPE`). Its samples follow. */
  family(name: string, type: MetricType, help: string): this {
    if (!NAME_RE.test(name)) throw new TypeError(`Invalid metric name ${JSON.stringify(name)}`);
    if (this.#families.has(name)) throw new TypeError(`Metric "${name}" is announced twice`);
    this.#families.add(name);
    const h = help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
    this.#lines.push(`# HELP ${name} ${h}`, `# TYPE ${name} ${type}`);
    return this;
  }

  /** One sample of the family announced last (`name` may carry a suffix: `_bucket`, `_sum`). */
  sample(name: string, value: number, labels?: Labels): this {
    this.#lines.push(`${name}${labelText(labels)} ${formatValue(value)}`);
    return this;
  }

  /** A histogram's samples: cumulative `_bucket` counts by `le`, then `_sum` and `_count`. */
  histogram(name: string, h: HistogramData, labels: Labels = {}): this {
    let cumulative = 0;
    for (const [i, le] of h.bounds.entries()) {
      cumulative += h.counts[i]!;
      this.sample(`${name}_bucket`, cumulative, { ...labels, le: formatValue(le) });
    }
    this.sample(`${name}_bucket`, h.count, { ...labels, le: "+Inf" });
    this.sample(`${name}_sum`, h.sum, labels);
    return this.sample(`${name}_count`, h.count, labels);
  }

  /** The exposition text (ends with a newline). */
  text(): string {
    return this.#lines.length === 0 ? "" : `${this.#lines.join("\n")}\n`;
  }
}

/** Observations of a histogram: a count per bucket (values up to each bound), sum, count. */
export interface HistogramData {
  /** Upper bounds of the buckets, ascending (the `+Inf` bucket is implicit). */
  readonly bounds: readonly number[];
  /** Observations in each bucket (not cumulative): value <= bound and > the previous bound. */
  counts: number[];
  /** Sum of the observed values. */
  sum: number;
  /** Number of observations. */
  count: number;
}

/** An empty histogram over `bounds`. */
export function newHistogram(bounds: readonly number[]): HistogramData {
  return { bounds, counts: bounds.map(() => 0), sum: 0, count: 0 };
}

/** Record one observation. */
export function observe(h: HistogramData, value: number): void {
  const i = h.bounds.findIndex((b) => value <= b);
  if (i >= 0) h.counts[i]!++;
  h.sum += value;
  h.count++;
}
