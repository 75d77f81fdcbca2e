import { describe, expect, it } from 'vitest';
import { randomUuid } from './uuid.js';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('randomUuid (RFC 9562 §5.4)', () => {
  it('makes version 4, variant 10 UUIDs in lower-case hex, each one different, across pool refills', () => {
    const seen = new Set<string>();
    for (let n = 0; n < 2000; n++) {
      const uuid = randomUuid();
      expect(uuid).toMatch(V4);
      seen.add(uuid);
    }
    expect(seen.size).toBe(2000);
  });

  it('every hex digit turns up in every random position', () => {
    const digits = Array.from({ length: 36 }, () => new Set<string>());
    for (let n = 0; n < 2000; n++) [...randomUuid()].forEach((c, i) => digits[i]?.add(c));
    const fixed = new Set([8, 13, 14, 18, 19, 23]);
    digits.forEach((set, i) => {
      if (!fixed.has(i)) expect(set.size, `position ${i}`).toBe(16);
    });
    expect([...(digits[14] ?? [])]).toEqual(['4']);
    expect([...(digits[19] ?? [])].sort()).toEqual(['8', '9', 'a', 'b']);
  });
});
