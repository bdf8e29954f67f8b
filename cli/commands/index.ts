// The one table of CLI commands, in the order `fleet --help` lists them.
import type { CommandModule } from '../env';
import { audit } from './audit/list';
import { exec } from './exec';
import { jobs } from './jobs';
import { label } from './label';
import { login } from './login';
import { nodes } from './nodes';
import { tokens } from './tokens';

export const COMMANDS: readonly CommandModule[] = [login, nodes, label, exec, jobs, tokens, audit];
