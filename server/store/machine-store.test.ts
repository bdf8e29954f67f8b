// The MachineStore contract on the embedded SQLite store (an in-memory database per test).
import { openDatabase } from './database';
import { SqliteMachineStore } from './machine-store';
import { machineStoreContract } from './test-machine-store';

machineStoreContract('SqliteMachineStore', async () => new SqliteMachineStore(openDatabase(':memory:')));
