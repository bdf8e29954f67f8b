// Valid inputs the mutators start from: one well-formed request per gRPC method (hand-encoded from
// proto/fleet/v1/*.proto), specs and PXE configs, tokens and selectors. Requests that could change
// a machine (jobs, shells, specs, upgrades) target a selector or node that matches nothing, so a
// mutation that still parses never runs anything on this machine.
import { lenField, tag, varint } from './mutate.mjs';

const str = (field, text) => lenField(field, Buffer.from(text));
const num = (field, value) => Buffer.concat([tag(field, 0), varint(value)]);
const msg = (field, ...parts) => lenField(field, Buffer.concat(parts));
const map = (field, key, value) => msg(field, str(1, key), str(2, value));
const cat = (...parts) => Buffer.concat(parts);

export const SPECS = [
  `name: fuzz\nselector: fuzz-target=none\nresources:\n  - type: file\n    path: /tmp/fleet-fuzz-never/app.conf\n    content: |\n      port={{ labels.port }}\n    template: true\n  - type: service\n    name: app\n    command: [/usr/local/bin/app, --config, /tmp/fleet-fuzz-never/app.conf]\n    watch: [/tmp/fleet-fuzz-never/app.conf]\nchecks:\n  - name: up\n    http: http://localhost:8080/health\nrollout:\n  batch: 2\n  maxErrors: 1\n`,
  `name: fuzz-pkgs\nselector: fuzz-target=none,env!=dev\nresources:\n  - type: package\n    name: curl\n  - type: exec\n    command: [true]\n    creates: /tmp/fleet-fuzz-never/x\n  - type: binary\n    name: tool\n    version: "1.0"\n    url: https://example.invalid/tool\n    sha256: ${'a'.repeat(64)}\nchecks:\n  - name: port\n    tcp: localhost:22\n    interval: 30s\n`,
  `anchors: &a [1, 2, 3]\nname: fuzz\nselector: "fuzz-target in (none)"\nresources: []\nx: *a\n`,
];

export const PXE_CONFIGS = [
  `profiles:\n  - name: debian12\n    kernel: http://boot.example.invalid/linux\n    initrd: http://boot.example.invalid/initrd.gz\n    args: auto=true hostname={{ machine.name }}\n  - name: ubuntu24\n    kernel: /pxe/discovery/vmlinuz\n    userData: |\n      #cloud-config\n      runcmd: ["{{ install_command }}"]\ngroups:\n  - name: rack-a\n    profile: ubuntu24\n    match: { macs: ["52:54:00:12:34:56"], labels: "rack=a" }\n    labels: { role: web }\n  - name: rest\n    default: true\n    profile: debian12\nrules:\n  - name: lab\n    match: mac=52:54:00:*\n    max: 10\n    profile: ubuntu24\n    labels: { env: lab }\n`,
];

export const SELECTORS = ['role=web,env!=dev', 'zone in (a,b),!gpu', 'tier notin (db)', 'a==b', 'x', 'fuzz=agent', 'k8s.io/role=web', ''];
export const YAML_PIECES = ['\n', ': ', '- ', '  ', '&a ', '*a', '<<: *a', '{', '}', '[', ']', '"', "'", '|', '>', '!!binary ', '!!int ', '? ', '---\n', '...\n', '#', '%YAML 1.2\n', '\t', '{{ labels.x }}', '{{', '~', 'null', '0x1F', '.inf', '1e400', '\u0000', '\ufeff'];
export const SELECTOR_PIECES = ['=', '==', '!=', '!', ',', ' in ', ' notin ', '(', ')', ' ', 'a', '/', '.', '-', '_', 'x'.repeat(70)];

/** A valid request body per method name (the method's last path segment); streams get a list. */
export function controlSamples(joinToken) {
  const spec = SPECS[0];
  return {
    WhoAmI: [Buffer.alloc(0)],
    ListNodes: [str(1, 'fuzz=agent')],
    GetNode: [str(1, 'fuzz-grpc')],
    LabelNode: [cat(str(1, 'fuzz-cert'), map(2, 'fuzz-k', 'v'), str(3, 'old'))],
    CreateJoinToken: [cat(num(1, 60_000), num(2, 1), map(3, 'a', 'b'), str(4, 'fuzz'))],
    ListJoinTokens: [Buffer.alloc(0)],
    RevokeJoinToken: [str(1, '000000000000')],
    CreateApiToken: [cat(str(1, 'viewer'), str(2, 'fuzz'))],
    RevokeApiToken: [str(1, '000000000000')],
    StartJob: [cat(str(1, 'fuzz-target=none'), str(3, 'true'), str(5, '10%'), num(6, 1), num(7, 1000))],
    ListJobs: [num(1, 5)],
    GetJob: [str(1, 'j-nope')],
    WatchJob: [str(1, 'j-nope')],
    ListAudit: [cat(num(1, 5), str(2, 'token.create'))],
    UpgradeAgents: [cat(str(1, 'fuzz-target=none'), str(4, '0.0.0'), str(5, '1'), num(6, 1000))],
    Shell: [msg(1, str(1, 'no-such-node'), msg(2, num(1, 80), num(2, 24)), str(3, 'sh'), num(4, 1), str(5, 'xterm')), lenField(2, Buffer.from('echo hi\n')), msg(3, num(1, 100), num(2, 40)), num(4, 10), num(5, 1)],
    ListSessions: [cat(num(1, 5), str(2, 'fuzz-grpc'))],
    GetRecording: [str(1, 's-nope')],
    PlanSpec: [cat(str(1, spec), str(2, 'fuzz.yaml'))],
    ApplySpec: [cat(str(1, spec), str(2, 'fuzz.yaml'), num(3, 1))],
    ListRollouts: [cat(str(1, 'fuzz'), num(2, 5))],
    GetRollout: [str(1, 'r-nope')],
    WatchRollout: [str(1, 'r-nope')],
    PauseRollout: [str(1, 'r-nope')],
    ResumeRollout: [str(1, 'r-nope')],
    RollbackRollout: [str(1, 'r-nope')],
    GetNodeState: [str(1, 'fuzz-grpc')],
    ListHealth: [str(1, 'fuzz=agent')],
    ListHistory: [cat(str(1, 'fuzz'), str(2, 'fuzz-grpc'), num(3, 5))],
    UploadFile: [msg(1, str(1, 'f.bin'), num(2, 5), str(3, '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824')), lenField(2, Buffer.from('hello'))],
    AddMachine: [cat(str(1, 'fuzz-m'), str(2, '52:54:00:00:00:01'), str(5, 'discovery'), map(6, 'role', 'x'))],
    ListMachines: [num(1, 1)],
    ApproveMachine: [cat(str(1, 'm-nope'), str(2, 'n'), str(3, 'discovery'), map(4, 'a', 'b'))],
    RejectMachine: [str(1, 'm-nope')],
    RemoveMachine: [str(1, 'm-nope')],
    ReinstallMachine: [str(1, 'm-nope')],
    SetPxeConfig: [cat(str(1, PXE_CONFIGS[0]), str(2, 'pxe.yaml'))],
    GetPxeConfig: [Buffer.alloc(0)],
    // Over the wire with a real join token (mutations make it malformed, wrong or unknown).
    Enroll: [enrollRequest(joinToken)],
  };
}

/** An EnrollRequest with the given token and a CSR that is not one (so nothing ever enrolls). */
export function enrollRequest(token) {
  return cat(str(1, token), str(2, '-----BEGIN CERTIFICATE REQUEST-----\nnot a csr\n-----END CERTIFICATE REQUEST-----\n'), msg(3, str(1, 'fuzz-host'), str(2, '52:54:00:aa:bb:cc'), str(3, 'uuid'), str(4, 'serial')), str(4, '0.1.0'), str(5, 'fuzz-enroll'), map(6, 'a', 'b'));
}

/** Agent-service requests: Connect (AgentMessage), OpenChannel (ChannelFrame), Renew, Leave. */
export function agentSamples(joinToken) {
  return {
    Enroll: [enrollRequest(joinToken)],
    Connect: [msg(1, str(1, '0.1.0'), str(2, 'j-1')), msg(2, num(1, Date.now())), msg(3, msg(1, str(1, 'host'))), msg(4, str(1, 'j-nope'))],
    OpenChannel: [msg(1, str(1, 'c-nope')), lenField(2, Buffer.from('data')), msg(3, num(1, 80), num(2, 24)), msg(4, num(1, 0)), num(5, 10), num(7, 1)],
    Renew: [str(1, '-----BEGIN CERTIFICATE REQUEST-----\nnot a csr\n-----END CERTIFICATE REQUEST-----\n')],
    Leave: [str(1, 'fuzz')],
  };
}

/** ServerMessage envelopes for the NATS agent: welcome, heartbeat, ack, and commands with bad signatures. */
export function serverMessageSamples(nodeId) {
  const command = cat(str(1, 'cmd-fuzz'), str(2, nodeId), num(3, Date.now() + 60_000));
  return [
    msg(1, str(1, nodeId), str(2, 'fuzz-nats'), num(3, 1000), str(4, '0.1.0')),
    msg(2, num(1, Date.now())),
    msg(3, lenField(1, command), lenField(2, Buffer.alloc(64))),
    msg(3, lenField(1, Buffer.alloc(0)), lenField(2, Buffer.alloc(0))),
    msg(4, str(1, 'j-nope')),
  ];
}
