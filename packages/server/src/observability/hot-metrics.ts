/**
 * Metrics updated on every request, at the cost of a number increment. prom-client's
 * own `inc` and `observe` validate and hash the label set on every call (and allocate
 * for it); here a label set's cell is found once, counts accumulate in plain numbers,
 * and prom-client sees them when Prometheus scrapes. The exposition is prom-client's
 * (same names, types and text format), so /metrics reads as before.
 */
import { Counter, type Registry } from 'prom-client';

export interface CounterCell {
  inc(value?: number): void;
}

/** A prom-client Counter whose increments are gathered in cells and handed over at each scrape. */
export class HotCounter<L extends string> {
  readonly #cells = new Map<string, { values: string[]; pending: number; inc(value?: number): void }>();

  constructor(options: { name: string; help: string; labelNames: readonly L[]; registers: Registry[] }) {
    const cells = this.#cells;
    // Registered with `registers`; reached through the registry only.
    new Counter<L>({
      ...options,
      // Called by the registry before each scrape (and by the cluster aggregator).
      collect() {
        for (const cell of cells.values()) {
          if (cell.pending === 0) continue;
          this.labels(...cell.values).inc(cell.pending);
          cell.pending = 0;
        }
      },
    });
  }

  /** The cell of one label set (values in labelNames order), made on first use. */
  cell(...values: string[]): CounterCell {
    const key = values.length === 1 ? (values[0] as string) : values.join('\u0000');
    let cell = this.#cells.get(key);
    if (cell === undefined) {
      cell = {
        values,
        pending: 0,
        inc(value = 1) {
          this.pending += value;
        },
      };
      this.#cells.set(key, cell);
    }
    return cell;
  }
}

interface HistogramSeries {
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * A Prometheus histogram with one label and a fixed set of label values, as an array
 * per value: `observe` finds the bucket and adds. Registered with a prom-client
 * registry as a metric of its own (prom-client only needs `get()`).
 */
export class HotHistogram {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly #bounds: readonly number[];
  readonly #series: Map<string, HistogramSeries>;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelName: string,
    labelValues: readonly string[],
    bounds: readonly number[],
    registry: Registry,
  ) {
    this.#bounds = [...bounds].sort((a, b) => a - b);
    this.#series = new Map(labelValues.map((value) => [value, { counts: new Float64Array(this.#bounds.length + 1), sum: 0, count: 0 }]));
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** An observer for one label value (one of those given to the constructor). */
  child(labelValue: string): { observe(value: number): void } {
    const series = this.#series.get(labelValue);
    if (series === undefined) throw new Error(`${this.name}: no label value ${labelValue}`);
    const bounds = this.#bounds;
    return {
      observe(value: number) {
        let bucket = 0;
        while (bucket < bounds.length && value > (bounds[bucket] as number)) bucket++;
        series.counts[bucket] = (series.counts[bucket] ?? 0) + 1;
        series.sum += value;
        series.count++;
      },
    };
  }

  /** What prom-client's registry reads: cumulative buckets, +Inf, sum and count per label value. */
  get(): { name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: { metricName: string; labels: Record<string, string | number>; value: number }[] } {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const [labelValue, series] of this.#series) {
      let cumulative = 0;
      this.#bounds.forEach((bound, i) => {
        cumulative += series.counts[i] ?? 0;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: bound, [this.labelName]: labelValue }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', [this.labelName]: labelValue }, value: series.count });
      values.push({ metricName: `${this.name}_sum`, labels: { [this.labelName]: labelValue }, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels: { [this.labelName]: labelValue }, value: series.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const series of this.#series.values()) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}
