/**
 * What every benchmark server child shares: a free port on 127.0.0.1, the
 * "ready" message to the parent (bench/token-endpoint.ts), and a clean exit on
 * SIGTERM so that `--cpu-prof` can write its profile.
 */
import { createServer } from 'node:net';

export const HOST = '127.0.0.1';

/** The one request every target answers: same body, same Basic credentials. */
export const RESOURCE = 'https://orders.example/api';
export const SCOPE = 'orders:read';

/** The parent asks for the child's CPU time around a measurement: CPU per request is robust to a busy machine. */
export interface CpuRequest {
  type: 'cpu';
}
export interface CpuMessage {
  type: 'cpu';
  /** process.cpuUsage(): user and system microseconds since the child started. */
  usage: NodeJS.CpuUsage;
}

export interface ReadyMessage {
  type: 'ready';
  url: string;
  /** Server-specific details the parent needs (Tessera: where admin.json is). */
  detail?: Record<string, string>;
}

/** A port that was free a moment ago (for servers whose public URL must name the port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, HOST, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Tells the parent the server listens; closes it and exits 0 on SIGTERM or when the parent goes away. */
export function announce(message: ReadyMessage, close: () => Promise<void>): void {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(1), 5000);
    force.unref();
    close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.once('disconnect', stop);
  process.on('message', (request: CpuRequest) => {
    if (request.type === 'cpu') process.send?.({ type: 'cpu', usage: process.cpuUsage() } satisfies CpuMessage);
  });
  if (process.send === undefined) {
    console.log(JSON.stringify(message));
  } else {
    process.send(message);
  }
}
