/**
 * What can be tested of deploy/ without Docker or a cluster: the Kubernetes manifests
 * validate against the Kubernetes schemas (kubernetes-models, offline), the compose
 * file describes PostgreSQL and two replicas sharing one master key, the Dockerfile is
 * multi-stage, non-root, without build tools in its final stage, installs with every
 * workspace's manifest, builds the console itself, and its CMD starts the server when
 * run as a plain command; the alert rules use metrics that exist.
 * Not tested here: building and running the image (.ci/image.sh does, with buildah),
 * running compose or the manifests in a cluster, PromQL syntax.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Secret, Service } from 'kubernetes-models/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { freePort, REPO_ROOT, waitFor } from '../../packages/cli/test/helpers/tessera-process.js';
import { createTestServer } from '../../packages/server/test/helpers/app.js';
import { makeTempDir, type TempDir } from '../../packages/server/test/helpers/temp-dir.js';

const read = (path: string) => readFile(join(REPO_ROOT, path), 'utf8');

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment as never,
  'v1/Secret': Secret as never,
  'v1/Service': Service as never,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget as never,
};

async function manifests(): Promise<Record<string, any>[]> {
  return parseAllDocuments(await read('deploy/kubernetes/tessera.yaml')).map((doc) => doc.toJS() as Record<string, any>);
}

describe('Kubernetes manifests', () => {
  it('are a Secret, a Deployment, a Service and a PodDisruptionBudget that validate against the Kubernetes schemas', async () => {
    const docs = await manifests();
    expect(docs.map((d) => d['kind']).sort()).toEqual(['Deployment', 'PodDisruptionBudget', 'Secret', 'Service']);
    for (const doc of docs) {
      const Model = MODELS[`${doc['apiVersion']}/${doc['kind']}`];
      expect(Model, `${doc['apiVersion']} ${doc['kind']}`).toBeDefined();
      expect(() => new (Model as NonNullable<typeof Model>)(doc as never).validate()).not.toThrow();
    }
  });

  it('the schema check catches a broken manifest (it can fail)', async () => {
    const deployment = (await manifests()).find((d) => d['kind'] === 'Deployment') as Record<string, any>;
    const broken = structuredClone(deployment);
    broken['spec']['replicas'] = 'three';
    expect(() => new Deployment(broken as never).validate()).toThrow();
    const noContainers = structuredClone(deployment);
    delete noContainers['spec']['template']['spec']['containers'];
    expect(() => new Deployment(noContainers as never).validate()).toThrow();
  });

  it('probe /readyz and /healthz, request resources, take the master key from the Secret, and agree on labels', async () => {
    const docs = await manifests();
    const byKind = Object.fromEntries(docs.map((d) => [d['kind'], d])) as Record<string, any>;
    const pod = byKind['Deployment'].spec.template;
    const container = pod.spec.containers[0];
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.envFrom[0].secretRef.name).toBe(byKind['Secret'].metadata.name);
    expect(Object.keys(byKind['Secret'].stringData)).toContain('TESSERA_MASTER_KEY');
    expect(Object.keys(byKind['Secret'].stringData)).toEqual(expect.arrayContaining(['TESSERA_BOOTSTRAP_ADMIN_SECRET', 'TESSERA_BOOTSTRAP_CONSOLE_PASSWORD']));
    expect(pod.spec.securityContext.runAsNonRoot).toBe(true);
    for (const selector of [byKind['Service'].spec.selector, byKind['PodDisruptionBudget'].spec.selector.matchLabels, byKind['Deployment'].spec.selector.matchLabels]) {
      expect(pod.metadata.labels).toMatchObject(selector);
    }
    expect(byKind['PodDisruptionBudget'].spec.minAvailable).toBeLessThan(byKind['Deployment'].spec.replicas);
  });
});

describe('compose file', () => {
  it('runs PostgreSQL and two replicas with one master key and one database', async () => {
    const compose = parse(await read('deploy/compose/compose.yaml'), { merge: true }) as { services: Record<string, any> };
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['postgres', 'tessera-a', 'tessera-b']));
    const [a, b] = [compose.services['tessera-a'], compose.services['tessera-b']];
    expect(a.environment.TESSERA_MASTER_KEY).toBeDefined();
    expect(a.environment).toEqual(b.environment);
    expect(a.environment.TESSERA_DATABASE_URL).toMatch(/^postgres:\/\/.*@postgres:5432\//);
    expect(a.volumes).not.toEqual(b.volumes); // separate data directories
  });
});

describe('Dockerfile', () => {
  let dir: TempDir | undefined;
  afterAll(async () => dir?.cleanup());

  async function dockerfile() {
    const text = await read('Dockerfile');
    const stages = text.split(/^FROM /m).slice(1);
    return { text, stages, final: stages[stages.length - 1] as string };
  }

  it('is multi-stage: the final stage runs as a non-root user, with production dependencies and no build tools', async () => {
    const { text, stages, final } = await dockerfile();
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/npm ci --omit=dev/);
    expect(final).toMatch(/^USER node$/m);
    expect(final).not.toMatch(/apt-get|apk add|g\+\+|make|python/);
    expect(final).not.toMatch(/npm (ci|install)/);
  });

  it('every install stage copies the manifest of every workspace before npm ci (npm ci needs them all)', async () => {
    const { stages } = await dockerfile();
    const { workspaces } = JSON.parse(await read('package.json')) as { workspaces: string[] };
    const installs = stages.filter((stage) => /npm ci/.test(stage));
    expect(installs.length).toBeGreaterThanOrEqual(2);
    for (const stage of installs) {
      const beforeInstall = stage.slice(0, stage.indexOf('npm ci'));
      for (const workspace of workspaces) expect(beforeInstall, workspace).toContain(`COPY ${workspace}/package.json ${workspace}/`);
    }
  });

  it('builds the console from the sources in the image, never a local build, and stops on SIGTERM with labels', async () => {
    const { stages, final } = await dockerfile();
    const build = stages.find((stage) => /npm run build/.test(stage)) as string;
    expect(build.indexOf('COPY packages packages')).toBeGreaterThan(-1);
    expect(build.indexOf('COPY packages packages')).toBeLessThan(build.indexOf('npm run build'));
    expect(final).toMatch(/^COPY --from=build \/app\/packages\/server\/console packages\/server\/console$/m);
    const ignored = (await read('.dockerignore')).split('\n').map((line) => line.trim());
    expect(ignored).toEqual(expect.arrayContaining(['**/node_modules', '**/dist', 'packages/server/console']));
    expect(final).toMatch(/^STOPSIGNAL SIGTERM$/m);
    expect(final).toMatch(/org\.opencontainers\.image\.title=/);
    expect(final).toMatch(/^VOLUME \["\/var\/lib\/tessera"\]$/m);
  });

  it('its CMD, run as a plain command with its ENV, starts the server; its HEALTHCHECK passes; SIGTERM exits 0', async () => {
    const { final } = await dockerfile();
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(final)?.[1] ?? 'null') as string[];
    const healthcheck = JSON.parse(/^HEALTHCHECK .* CMD (\[.*\])$/m.exec(final)?.[1] ?? 'null') as string[];
    const envBlock = /^ENV ((?:.*\\\n)*.*)$/m.exec(final)?.[1] ?? '';
    const env = Object.fromEntries([...envBlock.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
    expect(env).toMatchObject({ TESSERA_HOST: '0.0.0.0', TESSERA_DATA_DIR: expect.any(String) });
    dir = await makeTempDir('tessera-image-');
    const port = String(await freePort());
    // WORKDIR /app holds the repository layout; the data dir, port and host are moved for this machine.
    const processEnv = { PATH: process.env['PATH'], ...env, TESSERA_DATA_DIR: dir.path, TESSERA_PORT: port, TESSERA_HOST: '127.0.0.1', TESSERA_LOG_LEVEL: 'warn' };
    const [command, ...args] = cmd;
    expect(command).toBe('node');
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env: processEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false)) || undefined, 20_000, 100);
      const check = spawn(process.execPath, healthcheck.slice(1), { env: processEnv, stdio: 'ignore' });
      expect(await new Promise((resolve) => check.once('exit', resolve))).toBe(0);
    } catch (error) {
      throw new Error(`${String(error)}\n${output}`);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 40_000);
});

describe('Prometheus alert rules', () => {
  it('parse, and every metric they use exists', async () => {
    const rules = parse(await read('deploy/prometheus/alerts.yml')) as { groups: { rules: { alert: string; expr: string }[] }[] };
    const t = await createTestServer();
    const exposition = await (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    await t.close();
    const known = new Set([...exposition.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]));
    const all = rules.groups.flatMap((g) => g.rules);
    expect(all.length).toBeGreaterThan(5);
    for (const rule of all) {
      expect(rule.alert).toMatch(/^Tessera/);
      for (const [name] of rule.expr.matchAll(/tessera_[a-z0-9_]+/g)) {
        expect(known.has(name.replace(/_(bucket|count|sum)$/, '')), `${rule.alert}: ${name}`).toBe(true);
      }
    }
  });
});
