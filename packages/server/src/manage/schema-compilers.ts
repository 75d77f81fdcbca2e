/**
 * Validators and serializers of the management API, compiled on first use instead of
 * at start-up. Fastify compiles every route's schemas while the server starts (about
 * 0.2 s for this API on a small machine); the management API is called rarely, and
 * the start-up budget (SPEC §1: ready in under 1 s) is better spent elsewhere. The
 * rules are unchanged: the same Ajv validation (no coercion, no silent removal of
 * unknown fields) and the same fast-json-stringify serializers that drop every field
 * a response schema does not declare.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import buildSerializer from 'fast-json-stringify';
import type { FastifyInstance } from 'fastify';

type Schema = Record<string, unknown>;

export function useLazySchemaCompilers(app: FastifyInstance, sharedSchemas: Schema[]): void {
  // Made on the first validation too: building an Ajv instance costs about as much as
  // registering the routes that use it.
  let ajv: Ajv | undefined;
  const compile = (schema: Schema) =>
    (ajv ??= new Ajv({ coerceTypes: false, useDefaults: true, removeAdditional: false, allErrors: false, addUsedSchema: false, strict: false })).compile(schema);
  const external = Object.fromEntries(sharedSchemas.map((schema) => [String(schema['$id']), schema]));

  app.setValidatorCompiler(({ schema }) => {
    let compiled: ValidateFunction | undefined;
    const validate = (data: unknown): boolean => {
      compiled ??= compile(schema as Schema);
      const valid = compiled(data) as boolean;
      validate.errors = compiled.errors;
      return valid;
    };
    validate.errors = null as ValidateFunction['errors'];
    return validate;
  });

  app.setSerializerCompiler(({ schema }) => {
    let serialize: ((data: unknown) => string) | undefined;
    return (data: unknown) => {
      serialize ??= buildSerializer(schema as Parameters<typeof buildSerializer>[0], { schema: external as never }) as (data: unknown) => string;
      return serialize(data);
    };
  });
}
