// The NATS subject layout fleet uses, and the permissions each identity gets on it. One place, so
// the agent, the server and the JWTs the server signs always agree.
//
//   fleet.v1.node.<id>.in                 server → agent: ServerMessage (protobuf)
//   fleet.v1.node.<id>.out                agent → server: AgentMessage; servers subscribe
//                                         fleet.v1.node.*.out in the queue group "fleet-servers"
//   fleet.v1.node.<id>.chan.<ch>.in|out   one PTY or bulk channel: ChannelFrame (protobuf)
//   fleet.v1.broadcast                    reserved: a selector agents evaluate (docs/scale-out.md)

/** The subject prefix; the version moves with the protobuf package (fleet.v1). */
export const SUBJECT_ROOT = 'fleet.v1';
/** The queue group every fleet server joins, so several servers share the agents' traffic. */
export const SERVER_QUEUE = 'fleet-servers';
export const BROADCAST_SUBJECT = `${SUBJECT_ROOT}.broadcast`;

/** Node and channel ids are single subject tokens: no dots, spaces or wildcards. */
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** True when `text` can be used as one token of a subject (node ids, channel ids). */
export function isSubjectToken(text: string): boolean {
  return TOKEN.test(text);
}

export const subjects = {
  /** Server → one agent. */
  nodeIn: (nodeId: string) => `${SUBJECT_ROOT}.node.${nodeId}.in`,
  /** One agent → the servers. */
  nodeOut: (nodeId: string) => `${SUBJECT_ROOT}.node.${nodeId}.out`,
  /** Server → agent frames of one channel (`*` for all of a node's channels). */
  channelIn: (nodeId: string, channelId: string) => `${SUBJECT_ROOT}.node.${nodeId}.chan.${channelId}.in`,
  /** Agent → server frames of one channel. */
  channelOut: (nodeId: string, channelId: string) => `${SUBJECT_ROOT}.node.${nodeId}.chan.${channelId}.out`,
  /** What servers subscribe to (in SERVER_QUEUE). */
  allNodesOut: `${SUBJECT_ROOT}.node.*.out`,
  allChannelsOut: `${SUBJECT_ROOT}.node.*.chan.*.out`,
} as const;

/** Splits a subject the server received: the node id, and the channel id for channel subjects. */
export function parseAgentSubject(subject: string): { nodeId: string; channelId?: string } | null {
  const parts = subject.split('.');
  // fleet.v1.node.<id>.out  |  fleet.v1.node.<id>.chan.<ch>.out
  if (parts[0] !== 'fleet' || parts[1] !== 'v1' || parts[2] !== 'node' || parts.at(-1) !== 'out') return null;
  const nodeId = parts[3] ?? '';
  if (!isSubjectToken(nodeId)) return null;
  if (parts.length === 5) return { nodeId };
  if (parts.length === 7 && parts[4] === 'chan' && isSubjectToken(parts[5] ?? '')) return { nodeId, channelId: parts[5]! };
  return null;
}

/** Publish/subscribe allow lists, in the shape NATS user JWTs (and nats-server configs) use. */
export interface SubjectPermissions {
  pub: { allow: string[] };
  sub: { allow: string[] };
}

/** What one agent may do: its own subjects only (and listen to broadcasts). */
export function agentPermissions(nodeId: string): SubjectPermissions {
  if (!isSubjectToken(nodeId)) throw new Error(`node id ${JSON.stringify(nodeId)} cannot be a NATS subject token`);
  return {
    pub: { allow: [subjects.nodeOut(nodeId), subjects.channelOut(nodeId, '*')] },
    sub: { allow: [subjects.nodeIn(nodeId), subjects.channelIn(nodeId, '*'), BROADCAST_SUBJECT] },
  };
}

/** What a fleet server may do: talk to every agent, and nothing else. */
export function serverPermissions(): SubjectPermissions {
  return {
    pub: { allow: [subjects.nodeIn('*'), subjects.channelIn('*', '*'), BROADCAST_SUBJECT] },
    sub: { allow: [subjects.allNodesOut, subjects.allChannelsOut] },
  };
}

/**
 * Link control travels in NATS headers of a message with an empty body, so the protobuf
 * envelopes stay exactly those of gRPC. `Fleet-Link` names the link (chosen by the agent in its
 * Hello) so a stale close never ends a newer link. `Fleet-Seq` numbers the messages of a link (or
 * channel) in each direction from 1: core NATS delivers at most once, so a receiver that sees a
 * number skipped knows a message was lost (a broker died) and ends the link, and the agent starts
 * over with a new Hello and replays what is unacknowledged — a link is in order and complete, or over.
 */
export const HEADER = {
  control: 'Fleet-Control',
  link: 'Fleet-Link',
  seq: 'Fleet-Seq',
  reason: 'Fleet-Reason',
  time: 'Fleet-Time',
  cert: 'Fleet-Cert',
  proof: 'Fleet-Proof',
} as const;

/** The one control verb: this link (or channel) is over. */
export const CONTROL_CLOSE = 'close';
