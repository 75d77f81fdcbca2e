import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HotCounter, HotHistogram } from './hot-metrics.js';

describe('HotCounter', () => {
  it('hands its increments to prom-client at each scrape, per label set', async () => {
    const registry = new Registry();
    const counter = new HotCounter({ name: 'x_total', help: 'x', labelNames: ['a', 'b'], registers: [registry] });
    counter.cell('1', '2').inc();
    counter.cell('1', '2').inc(2);
    counter.cell('1', '3').inc();
    expect(await registry.metrics()).toContain('x_total{a="1",b="2"} 3');
    counter.cell('1', '2').inc();
    const text = await registry.metrics();
    expect(text).toContain('x_total{a="1",b="2"} 4');
    expect(text).toContain('x_total{a="1",b="3"} 1');
  });
});

describe('HotHistogram', () => {
  it('exposes cumulative buckets, +Inf, sum and count in the Prometheus text format', async () => {
    const registry = new Registry();
    const histogram = new HotHistogram('d_seconds', 'd', 'outcome', ['ok', 'bad'], [0.01, 0.1], registry);
    const ok = histogram.child('ok');
    ok.observe(0.005);
    ok.observe(0.01); // a bound is inclusive (le)
    ok.observe(0.05);
    ok.observe(3);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE d_seconds histogram');
    expect(text).toContain('d_seconds_bucket{le="0.01",outcome="ok"} 2');
    expect(text).toContain('d_seconds_bucket{le="0.1",outcome="ok"} 3');
    expect(text).toContain('d_seconds_bucket{le="+Inf",outcome="ok"} 4');
    expect(text).toContain('d_seconds_sum{outcome="ok"} 3.065');
    expect(text).toContain('d_seconds_count{outcome="ok"} 4');
    expect(text).toContain('d_seconds_count{outcome="bad"} 0');
    expect(() => histogram.child('other')).toThrow();
  });
});
