// The desired-state spec: what others may import — the schema and types, loading a spec file,
// rendering it per node, its digest, and the errors these throw.
export * from './schema';
export * from './load';
export * from './render';
export * from './diff';
export { SpecError, TemplateError, type SpecProblem } from '../errors';
