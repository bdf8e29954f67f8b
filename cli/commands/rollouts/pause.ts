// fleet rollouts pause ID / resume ID
import type { Command } from 'commander';
import type { CliEnv } from '../../env';
import { batchText } from '../../rollout-view';

export const pauseRollout = (rollouts: Command, env: CliEnv) => {
  rollouts
    .command('pause')
    .description('stop a running rollout once its current batch is done; `resume` carries on')
    .argument('<id>', 'rollout id')
    .action(async (id: string) => {
      const r = await env.client().call('pauseRollout', { id });
      env.io.stdout.write(`rollout ${r.id} paused in batch ${batchText(r)}\n`);
    });
};

export const resumeRollout = (rollouts: Command, env: CliEnv) => {
  rollouts
    .command('resume')
    .description('carry on with a paused rollout')
    .argument('<id>', 'rollout id')
    .action(async (id: string) => {
      const r = await env.client().call('resumeRollout', { id });
      env.io.stdout.write(`rollout ${r.id} running again from batch ${batchText(r)} (follow it with \`fleet rollouts show ${r.id}\`)\n`);
    });
};
