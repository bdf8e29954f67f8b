// The desired-state spec: what others may import — the schema and types, loading a spec file,
// rendering it per node, and its digest (the errors these throw live in common/errors.ts).
export * from './schema';
export * from './load';
export * from './render';
export * from './diff';
