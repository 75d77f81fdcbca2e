/**
 * The real `tessera` command in a child process: `startServer` runs `tessera serve` on a
 * free port and waits for /healthz; `runCli` runs one command and collects its output.
 * Every server started is remembered, so `stopAllServers()` (in afterAll) kills what a
 * failing test left behind, by PID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const CLI_BIN = fileURLToPath(new URL('../../bin/tessera.js', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** A port nobody listens on right now: listen on port 0, read it, close. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The parent's environment without TESSERA_* (a developer's settings must not leak into a test). */
function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('TESSERA_')) env[key] = value;
  for (const [key, value] of Object.entries(extra)) if (value !== undefined) env[key] = value;
  return env;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerProcess {
  pid: number;
  port: number;
  url: string;
  dataDir: string;
  adminFile: string;
  /** Milliseconds from spawn to the first 200 from /healthz. */
  startedInMs: number;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Standard output alone (JSON log lines) and standard error alone (messages for people). */
  stdout(): string;
  stderr(): string;
  exited: Promise<Exit>;
  /** Sends `signal` and waits for the exit; SIGKILL after `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit>;
}

const running = new Set<ChildProcess>();

export interface StartOptions {
  dataDir: string;
  port?: number;
  env?: Record<string, string | undefined>;
  args?: string[];
  /** Wait for /healthz (default) or for nothing. */
  wait?: boolean;
  timeoutMs?: number;
}

export async function startServer(options: StartOptions): Promise<ServerProcess> {
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const child = spawn(process.execPath, [CLI_BIN, 'serve', '--port', String(port), '--data-dir', options.dataDir, ...(options.args ?? [])], {
    cwd: REPO_ROOT,
    env: cleanEnv({ TESSERA_LOG_LEVEL: 'warn', ...options.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('could not spawn tessera serve');
  running.add(child);
  let output = '';
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    stderr += chunk.toString();
  });
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  const server: ServerProcess = {
    pid: child.pid,
    port,
    url,
    dataDir: options.dataDir,
    adminFile: `${options.dataDir}/admin.json`,
    startedInMs: 0,
    output: () => output,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      process.kill(child.pid as number, signal);
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) process.kill(child.pid as number, 'SIGKILL');
      }, timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  if (options.wait === false) return server;
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let early: Exit | undefined;
  void exited.then((exit) => (early = exit));
  for (;;) {
    if (early !== undefined) throw new Error(`tessera serve exited (${JSON.stringify(early)}) before it was healthy:\n${output}`);
    if (await isOk(`${url}/healthz`)) break;
    if (Date.now() > deadline) {
      await server.stop('SIGKILL');
      throw new Error(`tessera serve was not healthy within the deadline:\n${output}`);
    }
    await sleep(20);
  }
  server.startedInMs = performance.now() - started;
  return server;
}

/** Kills, by PID, every server a test started and did not stop. */
export async function stopAllServers(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          process.kill(child.pid as number, 'SIGKILL');
        }),
    ),
  );
}

export async function isOk(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns a value other than undefined; the value and the time it took. */
export async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 25): Promise<{ value: T; elapsedMs: number }> {
  const started = performance.now();
  for (;;) {
    const value = await check();
    if (value !== undefined) return { value, elapsedMs: performance.now() - started };
    if (performance.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tessera <args>` to completion. */
export async function runCli(args: readonly string[], options: { env?: Record<string, string | undefined>; stdin?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI_BIN, ...args], {
    cwd: REPO_ROOT,
    env: cleanEnv(options.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(options.stdin ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
  const code = await new Promise<number | null>((resolve) => child.once('close', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** `runCli` against a server, with its --url and admin credentials; fails the test on a non-zero exit. */
export function cliFor(server: { url: string; adminFile: string }) {
  const run = (args: readonly string[], options?: { stdin?: string }) => runCli([...args, '--url', server.url, '--admin', server.adminFile], options);
  return {
    run,
    /** Runs with --json, expects exit 0, returns the parsed stdout. */
    async json<T = any>(args: readonly string[]): Promise<T> {
      const result = await run([...args, '--json']);
      if (result.code !== 0) throw new Error(`tessera ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
      return JSON.parse(result.stdout) as T;
    },
    /** Expects exit 0; returns stdout. */
    async ok(args: readonly string[]): Promise<string> {
      const result = await run(args);
      if (result.code !== 0) throw new Error(`tessera ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
      return result.stdout;
    },
  };
}
