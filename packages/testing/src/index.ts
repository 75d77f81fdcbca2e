export {
  startTestIssuer,
  type CreateClientOptions,
  type IssueTokenOptions,
  type SigningAlg,
  type TestClient,
  type TestClientMethod,
  type TestIssuer,
  type TestIssuerMtls,
  type TestIssuerOptions,
} from './test-issuer.js';
export { createCertificate, subjectDn, type CertificateOptions, type CertificateSubject, type TestCertificate } from './certificates.js';
export type { TestClock } from './clock.js';
export type { Tamper } from './tamper.js';
