/**
 * The floor of any token endpoint on this runtime (bench/servers/floor-app.ts), on a
 * free port of 127.0.0.1.
 */
import { announce, HOST } from './common.js';
import { buildFloorApp } from './floor-app.js';

const clientId = process.env['BENCH_CLIENT_ID'] ?? 'bench-client';
const clientSecret = process.env['BENCH_CLIENT_SECRET'] ?? 'bench-client-secret-0123456789abcdefghijklmnop';
const { app, setIssuer } = buildFloorApp(clientId, clientSecret);

await app.listen({ port: 0, host: HOST });
const address = app.server.address();
const port = typeof address === 'object' && address !== null ? address.port : 0;
const issuer = `http://${HOST}:${port}`;
setIssuer(issuer);
announce({ type: 'ready', url: issuer }, () => app.close());
