// The Control contract as zod schemas, made from the compiled protos (proto/gen/descriptor-set):
// the HTTP API checks request bodies against them and the OpenAPI document is generated from
// them, so the HTTP API cannot drift from what gRPC accepts and answers. The JSON is protobuf's
// JSON mapping as ts-proto writes it: camelCase names, enums by name, 64-bit numbers as numbers,
// bytes as base64, defaults left out. Unknown fields are refused (a misspelled field is an error).
import { createFileRegistry, fromBinary, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { z } from 'zod';
import { descriptorSetBase64 } from '../../../proto/gen/descriptor-set';

const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(descriptorSetBase64, 'base64')));
const schemas = new Map<string, z.ZodType>();

/** Protobuf scalar types (google.protobuf.FieldDescriptorProto.Type) and their JSON schemas. */
function scalar(type: number): z.ZodType {
  switch (type) {
    case 9: // string
      return z.string();
    case 8: // bool
      return z.boolean();
    case 12: // bytes
      return z.base64();
    case 1: // double
    case 2: // float
      return z.number();
    default: // the integer types (ts-proto reads and writes 64-bit ones as numbers too)
      return z.number().int();
  }
}

function fieldSchema(field: DescField): z.ZodType {
  switch (field.fieldKind) {
    case 'scalar':
      return scalar(field.scalar);
    case 'enum':
      return z.enum(field.enum.values.map((v) => v.name) as [string, ...string[]]);
    case 'message':
      return messageSchema(field.message);
    case 'list':
      return z.array(field.listKind === 'scalar' ? scalar(field.scalar) : field.listKind === 'enum' ? z.enum(field.enum.values.map((v) => v.name) as [string, ...string[]]) : messageSchema(field.message));
    case 'map':
      return z.record(z.string(), field.mapKind === 'scalar' ? scalar(field.scalar) : field.mapKind === 'enum' ? z.enum(field.enum.values.map((v) => v.name) as [string, ...string[]]) : messageSchema(field.message));
  }
}

function messageSchema(desc: DescMessage): z.ZodType {
  const known = schemas.get(desc.typeName);
  if (known) return known;
  // Registered before its fields are built, so a message that contains itself refers to itself.
  const shape: Record<string, z.ZodType> = {};
  const schema = z.strictObject(shape).meta({ id: desc.name, description: `fleet.v1.${desc.name}` });
  schemas.set(desc.typeName, schema);
  for (const field of desc.fields) shape[field.jsonName] = fieldSchema(field).optional();
  const oneofs = desc.oneofs.map((o) => o.fields.map((f) => f.jsonName));
  if (oneofs.length === 0) return schema;
  const refined = schema.superRefine((value, ctx) => {
    for (const names of oneofs) {
      const set = names.filter((n) => (value as Record<string, unknown>)[n] !== undefined);
      if (set.length > 1) ctx.addIssue({ code: 'custom', message: `only one of ${names.join(', ')} may be set (got ${set.join(', ')})` });
    }
  });
  schemas.set(desc.typeName, refined);
  return refined;
}

/**
 * The zod schema of a message of the contract, by its name in package fleet.v1 ("Node",
 * "StartJobRequest").
 * @throws Error for a name the contract does not have (a programming error)
 */
export function contractSchema(name: string): z.ZodType {
  const desc = registry.getMessage(`fleet.v1.${name}`);
  if (!desc) throw new Error(`fleet.v1.${name} is not a message of the contract`);
  return messageSchema(desc);
}
