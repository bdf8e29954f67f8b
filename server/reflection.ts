// gRPC reflection (v1 and v1alpha) over the contract's own file descriptors, so grpcurl and other
// clients can list the services, look up a symbol, and fetch every .proto file by its name
// (`fleet/v1/control.proto`, …) with the files it imports.
//
// @grpc/reflection reads the `fileDescriptorProtos` of a proto-loader package definition. Those
// that proto-loader makes from a descriptor set went through protobufjs, which loses the file
// names and lumps every type into one file named after the last: only that name answered, and
// with the wrong content. So each definition here carries the set's own, untouched descriptors.
import type { Server } from '@grpc/grpc-js';
import { loadFileDescriptorSetFromBuffer, type AnyDefinition, type PackageDefinition, type ServiceDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { descriptorSetBase64 } from '../proto/gen/descriptor-set';

/** `FileDescriptorSet.file` (field 1): one encoded `FileDescriptorProto` per .proto file. */
const FILE_FIELD = 1;

/** The encoded FileDescriptorProtos of a FileDescriptorSet, as they are in it. */
function fileDescriptors(set: Uint8Array): Buffer[] {
  const files: Buffer[] = [];
  const reader = new BinaryReader(set);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === FILE_FIELD && wireType === WireType.LengthDelimited) files.push(Buffer.from(reader.bytes()));
    else reader.skip(wireType);
  }
  return files;
}

/** Messages and enums carry file descriptors; services (maps of methods) do not. */
function isTypeDefinition(entry: AnyDefinition): entry is Exclude<AnyDefinition, ServiceDefinition> {
  return typeof entry.format === 'string';
}

/**
 * Offers gRPC reflection for every service and file of proto/ on `server`.
 * @example addReflection(tolerantServer(grpcServer))
 */
export function addReflection(server: Pick<Server, 'addService'>): void {
  const set = Buffer.from(descriptorSetBase64, 'base64');
  const files = fileDescriptors(set);
  const definition: PackageDefinition = {};
  // Reflection finds the services in the files, so the types' entries are all it needs.
  for (const [name, entry] of Object.entries(loadFileDescriptorSetFromBuffer(set))) {
    if (isTypeDefinition(entry)) definition[name] = { ...entry, fileDescriptorProtos: files };
  }
  new ReflectionService(definition).addToServer(server);
}
