/**
 * The issuer's clock: the real one, or one frozen at a chosen instant that moves
 * only when the test moves it (token `iat`/`exp`, key schedules, assertion windows).
 */
export interface TestClock {
  /** Epoch milliseconds, as the issuer sees them. */
  now(): number;
  /** Whether the clock is frozen (`clock` option); only a frozen clock can be moved. */
  readonly frozen: boolean;
  /** Moves a frozen clock forward (or back, with a negative number) by `ms`. */
  advance(ms: number): void;
  /** Sets a frozen clock to an instant. */
  set(instant: Date | number): void;
}

export type ClockOption = 'real' | Date | number;

export function createClock(option: ClockOption = 'real'): TestClock {
  if (option === 'real') {
    return {
      now: Date.now,
      frozen: false,
      advance() {
        throw new TypeError('the issuer runs on the real clock: start it with { clock: Date | epoch ms } to move time');
      },
      set() {
        throw new TypeError('the issuer runs on the real clock: start it with { clock: Date | epoch ms } to move time');
      },
    };
  }
  let current = toEpochMs(option);
  return {
    now: () => current,
    frozen: true,
    advance(ms: number) {
      if (!Number.isFinite(ms)) throw new TypeError('advance() takes a finite number of milliseconds');
      current += ms;
    },
    set(instant: Date | number) {
      current = toEpochMs(instant);
    },
  };
}

function toEpochMs(instant: Date | number): number {
  const ms = instant instanceof Date ? instant.getTime() : instant;
  if (!Number.isFinite(ms)) throw new TypeError('the clock takes a Date or epoch milliseconds');
  return ms;
}
