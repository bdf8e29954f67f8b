// Public surface of the cluster view: presence and routing across replicas sharing a database.
export { ClusterLinks, type ClusterLinksOptions, type LinkDirectory, type PresenceListener } from './cluster-links';
