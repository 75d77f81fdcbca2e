export { buildApp, type AppOptions, type Tessera } from './app.js';
export { resolveConfig, type ConfigInput, type ServerConfig } from './config/config.js';
export { defaults } from './config/defaults.js';
export { MasterKey } from './crypto/master-key.js';
export { unsealPrivateKey } from './crypto/signing.js';
export type { CacheEvents } from './domain/entry-cache.js';
export { parseServeArgs, runUntilSignal, serve, SERVE_OPTIONS, SERVE_USAGE, type RunningServer, type ServeOptions } from './main.js';
export { StartError } from './config/start-errors.js';
export { DataDirInUseError } from './data-dir/lock.js';
export { createStore } from './store/index.js';
export type { Store } from './store/types.js';
/**
 * The management API's request schemas (TypeBox, i.e. JSON Schema): the configuration
 * file of `tessera apply` is made of them, so the file and the API cannot drift apart.
 */
export {
  ClientIdPattern,
  CreateApiBody,
  CreateClientBody,
  CreateFederationBody,
  CreateGrantBody,
  CreateTenantBody,
  PublicJwk,
  UpdateApiBody,
  UpdateClientBody,
  UpdateFederationBody,
  UpdateGrantBody,
  UpdateTenantBody,
} from './manage/schemas.js';
export type {
  CreateFederation,
  UpdateFederation,
  ApiResource,
  AuditEntryResource,
  ClientResource,
  ClientListItemResource,
  CreatedClientResource,
  CreatedSecretResource,
  FederationResource,
  GrantResource,
  KeyResource,
  TenantResource,
} from './manage/schemas.js';
export type { ConsoleUserResource, CreatedConsoleUserResource, UpdatedConsoleUserResource, WhoamiResource } from './manage/console-user-schemas.js';
export type { DormantResource, UnusedGrantsResource, UsageSeriesResource, UsageTopResource, WasteResource } from './manage/usage-schemas.js';
export { resetAdmin, rewrapKeys, setPublicUrl, StoreCommandError, type AdminResetOutcome, type RewrapOutcome, type SetPublicUrlOutcome, type StoreLocation } from './local/store-commands.js';
export { PublicUrlMismatchError } from './domain/public-url.js';
