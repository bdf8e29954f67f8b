// The one table of CLI commands, in the order `fleet --help` lists them.
import type { CommandModule } from '../env';
import { agents } from './agents';
import { apply } from './apply';
import { apiTokens } from './api-tokens';
import { audit } from './audit/list';
import { bootstrap } from './bootstrap';
import { exec } from './exec';
import { health } from './health';
import { history } from './history';
import { jobs } from './jobs';
import { label } from './label';
import { login } from './login';
import { machines } from './machines';
import { nodes } from './nodes';
import { plan } from './plan';
import { pxe } from './pxe';
import { rollouts } from './rollouts';
import { state } from './state';
import { tokens } from './tokens';
import { shell } from './shell';
import { sessions } from './sessions';

export const COMMANDS: readonly CommandModule[] = [login, nodes, label, exec, shell, sessions, jobs, plan, apply, rollouts, state, health, history, tokens, apiTokens, agents, bootstrap, machines, pxe, audit];
