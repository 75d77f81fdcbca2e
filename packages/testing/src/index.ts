export {
  startTestIssuer,
  type CreateClientOptions,
  type IssueTokenOptions,
  type SigningAlg,
  type TestClient,
  type TestClientMethod,
  type TestIssuer,
  type TestIssuerOptions,
} from './test-issuer.js';
export type { TestClock } from './clock.js';
export type { Tamper } from './tamper.js';
