// fleet bootstrap ssh [user@]host: make a one-use join token, run the installer on the host over
// ssh, and wait until the node is online.
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { parseDuration } from '../../../common/duration';
import { parseLabelAssignments } from '../../../common/labels';
import { resolveContext } from '../../context';
import type { CliEnv } from '../../env';
import { UsageError, UserError } from '../../errors';
import { installCommand } from '../../install-command';

interface Options {
  port: string;
  identity?: string;
  sshOption: string[];
  serverHost?: string;
  name?: string;
  label: string[];
  timeout: string;
}

export const bootstrapSsh = (bootstrap: Command, env: CliEnv) => {
  bootstrap
    .command('ssh')
    .description('install and enroll an agent on a running machine over ssh, then wait until it is online')
    .argument('<target>', '[user@]host')
    .option('-p, --port <port>', 'ssh port', '22')
    .option('-i, --identity <file>', 'ssh private key')
    .option('-o, --ssh-option <option>', 'extra ssh -o option (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--server-host <host>', 'the fleet server\'s address as the target machine reaches it (default: the one this CLI uses)')
    .option('-n, --name <name>', 'node name (default: the machine\'s hostname)')
    .option('-l, --label <k=v>', 'label for the node (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--timeout <duration>', 'how long to wait for the node to come online', '3m')
    .addHelpText('after', '\nThe remote user must be root or allowed to run sudo without a password. ssh runs with BatchMode=yes\nand StrictHostKeyChecking=accept-new unless you pass -o options of your own.')
    .action(async (target: string, opts: Options) => {
      if (!/^([A-Za-z0-9._-]+@)?[A-Za-z0-9.:_-]+$/.test(target)) throw new UsageError(`"${target}" is not [user@]host`);
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError('--port must be a port number');
      const timeoutMs = parseDuration(opts.timeout);
      const labels = parseLabelAssignments(opts.label);
      const client = env.client();
      const me = await client.call('whoAmI', {});
      const created = await client.call('createJoinToken', { ttlMs: Math.max(timeoutMs, 600_000), maxUses: 1, labels, description: `bootstrap ssh ${target}` });
      const tokenId = created.info!.id;
      const server = resolveContext(env.configFile, env.contextName).context.server;
      const extra = opts.name ? ['--name', opts.name] : [];
      const install = installCommand(me, server, created.token, { host: opts.serverHost, sudo: false, args: extra });
      // Root runs the installer directly, anyone else through sudo (never asking for a password).
      const remote = `if [ "$(id -u)" = 0 ]; then ${install}; else ${install.replace('| sh -s', '| sudo -n sh -s')}; fi`;
      const args = ['-p', String(port), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=accept-new', '-o', 'ConnectTimeout=15'];
      if (opts.identity) args.push('-i', opts.identity);
      for (const o of opts.sshOption) args.push('-o', o);
      args.push(target, remote);
      env.io.stderr.write(`installing on ${target} with join token ${tokenId}…\n`);
      const code = await new Promise<number>((resolve, reject) => {
        const child = spawn('ssh', args, { stdio: ['ignore', 'pipe', 'pipe'] });
        const relay = (data: Buffer) => env.io.stderr.write(data.toString().replace(/^(?=.)/gm, `${target}: `));
        child.stdout.on('data', relay);
        child.stderr.on('data', relay);
        child.on('error', (err) => reject(new UserError(`cannot run ssh: ${err.message}`)));
        child.on('close', (c) => resolve(c ?? 255));
      });
      if (code !== 0) {
        await client.call('revokeJoinToken', { id: tokenId }).catch(() => undefined);
        throw new UserError(`the installer on ${target} failed (ssh exit status ${code}); the join token was revoked`, 'BOOTSTRAP_FAILED');
      }
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { nodes } = await client.call('listNodes', { selector: '' });
        const node = nodes.find((n) => n.joinTokenId === tokenId);
        if (node?.online) {
          env.io.stdout.write(`${node.name} (${node.id}) is online\n`);
          return;
        }
        if (Date.now() > deadline) throw new UserError(`${target} did not come online within ${opts.timeout}${node ? ` (enrolled as ${node.name})` : ''}`, 'BOOTSTRAP_TIMEOUT');
        await new Promise((r) => setTimeout(r, 500));
      }
    });
};
